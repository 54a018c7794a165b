"""Domain values to table rows (and the few conversions that entails)."""

from __future__ import annotations

from typing import Any

from feedbackloop.domain import Deal, Message, Template

__all__ = ["deal_row", "message_row", "template_row"]


def deal_row(deal: Deal) -> dict[str, Any]:
    return {
        "deal_id": deal.deal_id,
        "outcome": str(deal.outcome),
        "amount": deal.amount,
        "currency": deal.currency,
        "created_at": deal.created_at,
        "closed_at": deal.closed_at,
        "segment": deal.segment,
        "industry": deal.industry,
        "loss_reason": deal.loss_reason,
        "competitor": deal.competitor,
        "stage_lost": deal.stage_lost,
        "sequence_id": deal.sequence_id,
        "owner_id": deal.owner_id,
        "source": deal.source,
        "crm_updated_at": deal.crm_updated_at,
    }


def message_row(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "deal_id": message.deal_id,
        "contact_id": message.contact_id,
        "template_id": message.template_id,
        "sequence_id": message.sequence_id,
        "position": message.position,
        "channel": message.channel,
        "direction": message.direction,
        "sent_at": message.sent_at,
        "opened": message.opened,
        "clicked": message.clicked,
        "replied": message.replied,
        "response_sentiment": message.response_sentiment,
        "objections": ",".join(message.objections) or None,
    }


def template_row(template: Template) -> dict[str, Any]:
    """Name and texts only: status and pin belong to the engine and to humans, never to a sync."""
    return {
        "template_id": template.template_id,
        "name": template.name,
        "subject": template.subject,
        "body": template.body,
    }
