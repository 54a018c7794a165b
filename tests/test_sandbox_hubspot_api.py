"""Every emulated HubSpot endpoint through the official client; bodies checked against HubSpot's specs."""

from __future__ import annotations

from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.deals.exceptions import ApiException
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert as ObjectsUpsertBatch,
)
from hubspot.crm.objects import (
    PublicObjectSearchRequest as ObjectsSearchRequest,
)
from hubspot.crm.objects import (
    SimplePublicObjectBatchInputUpsert as ObjectsUpsertInput,
)
from hubspot.crm.objects.emails import BatchReadInputSimplePublicObjectId as EmailBatchRead
from hubspot.crm.objects.emails import PublicObjectSearchRequest as EmailSearchRequest
from hubspot.crm.objects.emails import SimplePublicObjectId as EmailId
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.schemas import ObjectSchemaEgg, ObjectTypePropertyCreate
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException
from hubspot.utils.oauth import get_auth_url

from feedbackloop.sandbox.hubspot.app import HubSpotSandbox
from tests.test_sandbox_hubspot_support import FAST, make_world, sdk, served, validate, validate_last

DEALS, EMAILS = "CRM_Deals_v3_deals", "CRM_Emails_v3_emails"
OBJECTS, PROPS = "CRM_Objects_v3_objects", "CRM_Properties_v3_properties"


@pytest.fixture(scope="module")
def portal() -> Iterator[tuple[str, HubSpotSandbox]]:
    with served(make_world(), enterprise=True, association_page_size=2, **FAST) as running:
        yield running


@pytest.fixture(scope="module")
def client(portal: tuple[str, HubSpotSandbox]) -> HubSpot:
    return sdk(portal[0])


def _closed_deal_ids(client: HubSpot, n: int = 3) -> list[str]:
    api = client.crm.deals.search_api
    page = api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "hs_is_closed", "operator": "EQ", "value": "true"}]}
            ],
            limit=n,
        )
    )
    return [d.id for d in page.results]


def test_deals_list_pages_and_read(client: HubSpot) -> None:
    api = client.crm.deals.basic_api
    first = api.get_page(limit=5, properties=["dealname", "dealstage", "amount"], associations=["contacts"])
    body = validate_last(api, DEALS, "/crm/v3/objects/0-3", "get")
    assert len(first.results) == 5
    assert first.paging.next.after
    standard = {"hs_object_id", "createdate", "hs_lastmodifieddate"}  # HubSpot always adds these
    assert set(body["results"][0]["properties"]) == {"dealname", "dealstage", "amount", *standard}
    assert body["results"][0]["associations"]["contacts"]["results"][0]["type"] == "deal_to_contact"
    second = api.get_page(limit=5, after=first.paging.next.after)
    assert not {d.id for d in first.results} & {d.id for d in second.results}
    everything = client.crm.deals.get_all(properties=["dealstage"])
    assert len({d.id for d in everything}) == len(everything) > 10
    one = api.get_by_id(deal_id=first.results[0].id, properties=["hs_is_closed_won", "nonexistent"])
    validate_last(api, DEALS, "/crm/v3/objects/0-3/{dealId}", "get")
    assert set(one.properties) == {"hs_is_closed_won", *standard}


def test_dealstage_history(client: HubSpot) -> None:
    api = client.crm.deals.basic_api
    deal_id = _closed_deal_ids(client, 1)[0]
    one = api.get_by_id(deal_id=deal_id, properties=["dealstage"], properties_with_history=["dealstage"])
    body = validate_last(api, DEALS, "/crm/v3/objects/0-3/{dealId}", "get")
    changes = body["propertiesWithHistory"]["dealstage"]
    assert len(changes) >= 2
    assert changes[0]["value"] == one.properties["dealstage"]  # newest first
    assert [c["timestamp"] for c in changes] == sorted((c["timestamp"] for c in changes), reverse=True)
    page = api.get_page(limit=50, properties_with_history=["dealstage"])
    validate_last(api, DEALS, "/crm/v3/objects/0-3", "get")
    assert all(r.properties_with_history["dealstage"] for r in page.results)
    with pytest.raises(ApiException) as too_many:
        api.get_page(limit=51, properties_with_history=["dealstage"])
    assert too_many.value.status == 400


def test_deal_search_filters_sort_and_paging(client: HubSpot) -> None:
    api = client.crm.deals.search_api
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"}]},
            {"filters": [{"propertyName": "hs_is_closed_lost", "operator": "EQ", "value": "true"}]},
        ],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["dealstage", "hs_is_closed_won", "hs_lastmodifieddate"],
        limit=7,
        after="0",
    )
    page = api.do_search(public_object_search_request=request)
    validate_last(api, DEALS, "/crm/v3/objects/0-3/search", "post")
    seen: list[Any] = []
    after: str | None = "0"
    while after is not None:
        request.after = after
        page = api.do_search(public_object_search_request=request)
        seen += page.results
        after = page.paging.next.after if page.paging else None
    assert len(seen) == page.total
    assert all(d.properties["hs_is_closed_won"] in ("true", "false") for d in seen)
    stamps = [d.properties["hs_lastmodifieddate"] for d in seen]
    assert stamps == sorted(stamps)
    open_deals = api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "hs_is_closed", "operator": "NEQ", "value": "true"}]}
            ],
            limit=1,
        )
    )
    total = client.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(limit=1)
    )
    assert open_deals.total + page.total == total.total


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (
            {"propertyName": "amount", "operator": "GT", "value": "10000"},
            lambda p: float(p["amount"]) > 10000,
        ),
        (
            {"propertyName": "amount", "operator": "BETWEEN", "value": "5000", "highValue": "9000.5"},
            lambda p: 5000 <= float(p["amount"]) <= 9000.5,
        ),
        ({"propertyName": "closedate", "operator": "HAS_PROPERTY"}, lambda p: p["closedate"] is not None),
        ({"propertyName": "closedate", "operator": "NOT_HAS_PROPERTY"}, lambda p: p["closedate"] is None),
        (
            {"propertyName": "createdate", "operator": "LT", "value": "2026-01-01T00:00:00Z"},
            lambda p: p["createdate"] < "2026-01-01",
        ),
        (
            {"propertyName": "createdate", "operator": "GTE", "value": "1767225600000"},
            lambda p: p["createdate"] >= "2026-01-01",
        ),
    ],
    ids=["gt-number", "between", "has-property", "not-has-property", "lt-iso-date", "gte-ms-date"],
)
def test_search_operators(client: HubSpot, flt: dict[str, Any], check: Any) -> None:
    page = client.crm.deals.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(filter_groups=[{"filters": [flt]}], limit=200)
    )
    assert page.results
    assert all(check(d.properties) for d in page.results)


def test_search_in_is_case_sensitive_for_enumerations(client: HubSpot) -> None:
    stages = client.crm.pipelines.pipelines_api.get_all(object_type="deals").results[0].stages
    ids = [s.id for s in stages if s.metadata["isClosed"] == "true"]
    api = client.crm.deals.search_api

    def count(values: list[str]) -> int:
        flt = {"propertyName": "dealstage", "operator": "IN", "values": values}
        return int(
            api.do_search(
                public_object_search_request=PublicObjectSearchRequest(filter_groups=[{"filters": [flt]}])
            ).total
        )

    assert count(ids) > 0
    assert count([i.upper() for i in ids if i != i.upper()] or ["NOPE"]) == 0


def test_batch_read_update_upsert(client: HubSpot, portal: tuple[str, HubSpotSandbox]) -> None:
    ids = _closed_deal_ids(client)
    batch = client.crm.deals.batch_api
    read = batch.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=["dealstage"],
            properties_with_history=[],
        )
    )
    validate_last(batch, DEALS, "/crm/v3/objects/0-3/batch/read", "post")
    assert {d.id for d in read.results} == set(ids)
    props = client.crm.properties.core_api
    props.create(
        object_type="deals",
        property_create=PropertyCreate(
            name="fl_key",
            label="FL key",
            type="string",
            field_type="text",
            group_name="dealinformation",
            has_unique_value=True,
        ),
    )
    updated = batch.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties={"fl_key": f"k-{i}"}) for i in ids]
        )
    )
    validate_last(batch, DEALS, "/crm/v3/objects/0-3/batch/update", "post")
    assert {d.properties["fl_key"] for d in updated.results} == {f"k-{i}" for i in ids}
    upserted = batch.upsert(
        batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=f"k-{ids[0]}", id_property="fl_key", properties={"dealname": "Renamed"}
                ),
                SimplePublicObjectBatchInputUpsert(
                    id="k-new", id_property="fl_key", properties={"dealname": "Fresh"}
                ),
            ]
        )
    )
    validate_last(batch, DEALS, "/crm/v3/objects/0-3/batch/upsert", "post")
    assert sorted((d.new, d.properties["dealname"]) for d in upserted.results) == [
        (False, "Renamed"),
        (True, "Fresh"),
    ]


def test_written_property_is_stored_and_bumps_last_modified(client: HubSpot) -> None:
    groups, core = client.crm.properties.groups_api, client.crm.properties.core_api
    groups.create(
        object_type="deals",
        property_group_create=PropertyGroupCreate(
            name="feedbackloop", label="Feedbackloop", display_order=-1
        ),
    )
    validate_last(groups, PROPS, "/crm/v3/properties/{objectType}/groups", "post", 201)
    created = core.create(
        object_type="deals",
        property_create=PropertyCreate(
            name="fl_score",
            label="Template score",
            type="number",
            field_type="number",
            group_name="feedbackloop",
        ),
    )
    validate_last(core, PROPS, "/crm/v3/properties/{objectType}", "post", 201)
    assert created.name == "fl_score"
    with pytest.raises(PropertiesApiException) as conflict:
        core.create(
            object_type="deals",
            property_create=PropertyCreate(
                name="fl_score", label="again", type="number", field_type="number", group_name="feedbackloop"
            ),
        )
    assert conflict.value.status == 409
    with pytest.raises(PropertiesApiException) as group_conflict:
        groups.create(
            object_type="deals", property_group_create=PropertyGroupCreate(name="feedbackloop", label="x")
        )
    assert group_conflict.value.status == 409
    core.create(
        object_type="deals",
        property_create=PropertyCreate(
            name="fl_flag",
            label="Flag",
            type="enumeration",
            field_type="select",
            group_name="feedbackloop",
            options=[
                OptionInput(label="Yes", value="yes", hidden=False),
                OptionInput(label="No", value="no", hidden=False),
            ],
        ),
    )
    assert core.get_by_name(object_type="deals", property_name="fl_score").type == "number"
    validate_last(core, PROPS, "/crm/v3/properties/{objectType}/{propertyName}", "get")
    core.get_all(object_type="deals")
    validate_last(core, PROPS, "/crm/v3/properties/{objectType}", "get")
    groups.get_all(object_type="deals")
    validate_last(groups, PROPS, "/crm/v3/properties/{objectType}/groups", "get")

    deals = client.crm.deals.basic_api
    deal_id = _closed_deal_ids(client, 1)[0]
    before = deals.get_by_id(deal_id=deal_id, properties=["hs_lastmodifieddate"])
    deals.update(
        deal_id=deal_id, simple_public_object_input={"properties": {"fl_score": "0.82", "fl_flag": "yes"}}
    )
    validate_last(deals, DEALS, "/crm/v3/objects/0-3/{dealId}", "patch")
    after = deals.get_by_id(deal_id=deal_id, properties=["fl_score", "fl_flag", "hs_lastmodifieddate"])
    assert after.properties["fl_score"] == "0.82"
    assert after.properties["fl_flag"] == "yes"
    assert after.properties["hs_lastmodifieddate"] > before.properties["hs_lastmodifieddate"]
    assert after.updated_at > before.updated_at


def test_pipelines(client: HubSpot) -> None:
    api = client.crm.pipelines.pipelines_api
    pipelines = api.get_all(object_type="deals")
    validate_last(api, "CRM_Pipelines_v3_pipelines", "/crm/v3/pipelines/{objectType}", "get")
    stages = pipelines.results[0].stages
    assert any(s.metadata["isClosed"] == "true" and float(s.metadata["probability"]) == 1.0 for s in stages)
    api.get_by_id(object_type="deals", pipeline_id="default")
    validate_last(api, "CRM_Pipelines_v3_pipelines", "/crm/v3/pipelines/{objectType}/{pipelineId}", "get")


def test_emails_contacts_companies(client: HubSpot) -> None:
    emails = client.crm.objects.emails
    basic, batch, search = emails.basic_api, emails.batch_api, emails.search_api
    wanted = [
        "hs_timestamp",
        "hs_email_direction",
        "hs_sequence_id",
        "hs_template_id",
        "hs_email_open_count",
        "hs_email_click_count",
        "hs_email_reply_count",
        "hs_email_subject",
    ]
    page = basic.get_page(limit=20, properties=wanted, associations=["deals"])
    validate_last(basic, EMAILS, "/crm/v3/objects/emails", "get")
    outbound = [e for e in page.results if e.properties["hs_email_direction"] == "EMAIL"]
    assert outbound
    assert all(
        e.properties["hs_template_id"] is not None or e.properties["hs_sequence_id"] is None for e in outbound
    )
    read = batch.read(
        batch_read_input_simple_public_object_id=EmailBatchRead(
            inputs=[EmailId(id=e.id) for e in page.results[:5]], properties=wanted, properties_with_history=[]
        )
    )
    validate_last(batch, EMAILS, "/crm/v3/objects/emails/batch/read", "post")
    assert len(read.results) == 5
    searched = search.do_search(
        public_object_search_request=EmailSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "hs_email_direction", "operator": "EQ", "value": "INCOMING_EMAIL"}
                    ]
                }
            ],
            properties=["hs_email_direction"],
            limit=10,
        )
    )
    validate_last(search, EMAILS, "/crm/v3/objects/emails/search", "post")
    assert searched.total > 0
    assert all(e.properties["hs_email_direction"] == "INCOMING_EMAIL" for e in searched.results)
    contacts_api, companies_api = client.crm.contacts.basic_api, client.crm.companies.basic_api
    contacts_api.get_page(limit=3, properties=["email"])
    validate_last(contacts_api, OBJECTS, "/crm/v3/objects/{objectType}", "get")
    companies = companies_api.get_page(limit=3, properties=["name", "numberofemployees"])
    validate_last(companies_api, OBJECTS, "/crm/v3/objects/{objectType}", "get")
    assert companies.results[0].properties["name"]


def test_associations_batch_read_pages_per_object(client: HubSpot) -> None:
    api = client.crm.associations.v4.batch_api
    deals = client.crm.deals.get_all()
    counts: dict[str, int] = {}
    pending = [PublicFetchAssociationsBatchRequest(id=d.id) for d in deals]
    rounds = 0
    while pending:
        rounds += 1
        answer = api.get_page(
            from_object_type="deals",
            to_object_type="emails",
            batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
                inputs=pending
            ),
        )
        status = api.api_client.last_response.status
        validate_last(
            api,
            "CRM_Associations_v4_associations",
            "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read",
            "post",
            status,
        )
        pending = []
        for result in answer.results:
            counts[result._from.id] = counts.get(result._from.id, 0) + len(result.to)
            assert all(t.association_types[0].type_id == 209 for t in result.to)
            if result.paging and result.paging.next:
                pending.append(
                    PublicFetchAssociationsBatchRequest(id=result._from.id, after=result.paging.next.after)
                )
    assert rounds > 1
    assert max(counts.values()) > 2  # page size 2 in this portal: paging was needed


def test_sequences_through_api_request(client: HubSpot, portal: tuple[str, HubSpotSandbox]) -> None:
    listing = client.api_request({"method": "GET", "path": "/automation/v4/sequences", "qs": {"userId": "1"}})
    assert listing.status_code == 200
    validate(
        "Automation_Sequences_v4_sequences",
        "CollectionResponseWithTotalPublicSequenceLiteResponse",
        listing.json(),
    )
    seq_id = listing.json()["results"][0]["id"]
    one = client.api_request(
        {"method": "GET", "path": f"/automation/v4/sequences/{seq_id}", "qs": {"userId": "1"}}
    )
    validate("Automation_Sequences_v4_sequences", "PublicSequenceResponse", one.json())
    steps = one.json()["steps"]
    assert [s["stepOrder"] for s in steps] == list(range(len(steps)))
    assert steps[0]["emailPattern"]["templateId"]
    missing_user = client.api_request({"method": "GET", "path": f"/automation/v4/sequences/{seq_id}"})
    assert missing_user.status_code == 400


def test_oauth_code_refresh_and_introspection(portal: tuple[str, HubSpotSandbox]) -> None:
    url, sandbox = portal
    client = HubSpot(host=url)
    auth_url = get_auth_url(
        scope=("oauth", "crm.objects.deals.read"),
        client_id="sandbox-client",
        redirect_uri="http://127.0.0.1:9/callback",
        state="xyz",
    )
    parsed = urlparse(url)
    connection = HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=5)
    connection.request("GET", urlparse(auth_url)._replace(scheme="", netloc="").geturl())
    answer = connection.getresponse()
    assert answer.status == 302
    query = parse_qs(urlparse(answer.getheader("Location") or "").query)
    assert query["state"] == ["xyz"]
    tokens = client.oauth.tokens_api.create(
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri="http://127.0.0.1:9/callback",
        client_id="sandbox-client",
        client_secret="sandbox-secret",
    )
    assert tokens.expires_in == 1800
    assert tokens.access_token
    assert tokens.refresh_token
    access_api, refresh_api = client.oauth.access_tokens_api, client.oauth.refresh_tokens_api
    info = access_api.get(token=tokens.access_token)
    validate_last(access_api, "Auth_Oauth_v1_oauth", "/oauth/v1/access-tokens/{token}", "get")
    assert info.hub_id == sandbox.options.hub_id
    assert "crm.objects.deals.read" in info.scopes
    refresh_api.get(token=tokens.refresh_token)
    validate_last(refresh_api, "Auth_Oauth_v1_oauth", "/oauth/v1/refresh-tokens/{token}", "get")
    refresh_api.archive(token=tokens.refresh_token + "-other")  # revoking an unknown token is a no-op
    refreshed = client.oauth.tokens_api.create(
        grant_type="refresh_token",
        refresh_token=tokens.refresh_token,
        client_id="sandbox-client",
        client_secret="sandbox-secret",
    )
    assert refreshed.access_token != tokens.access_token
    assert sdk(url, refreshed.access_token).crm.deals.basic_api.get_page(limit=1).results


def test_custom_objects_on_enterprise(client: HubSpot) -> None:
    schemas = client.crm.schemas.core_api
    egg = ObjectSchemaEgg(
        name="template_score",
        labels={"singular": "Template score", "plural": "Template scores"},
        primary_display_property="template_key",
        required_properties=["template_key"],
        associated_objects=["0-3"],
        properties=[
            ObjectTypePropertyCreate(
                name="template_key", label="Key", type="string", field_type="text", has_unique_value=True
            ),
            ObjectTypePropertyCreate(name="score", label="Score", type="number", field_type="number"),
        ],
    )
    created = schemas.create(object_schema_egg=egg)
    validate_last(schemas, "CRM_Schemas_v3_schemas", "/crm-object-schemas/v3/schemas", "post", 201)
    with pytest.raises(SchemasApiException) as again:
        schemas.create(object_schema_egg=egg)
    assert again.value.status == 409
    schemas.get_all()
    validate_last(schemas, "CRM_Schemas_v3_schemas", "/crm-object-schemas/v3/schemas", "get")
    batch, search = client.crm.objects.batch_api, client.crm.objects.search_api
    for object_type in (created.object_type_id, created.fully_qualified_name):
        batch.upsert(
            object_type=object_type,
            batch_input_simple_public_object_batch_input_upsert=ObjectsUpsertBatch(
                inputs=[
                    ObjectsUpsertInput(id="t-1", id_property="template_key", properties={"score": "0.82"})
                ]
            ),
        )
        validate_last(batch, OBJECTS, "/crm/v3/objects/{objectType}/batch/upsert", "post")
    found = search.do_search(
        object_type=created.object_type_id,
        public_object_search_request=ObjectsSearchRequest(
            filter_groups=[], properties=["template_key", "score"], limit=10
        ),
    )
    assert [(r.properties["template_key"], r.properties["score"]) for r in found.results] == [("t-1", "0.82")]


def test_remaining_endpoints_through_the_sdk(client: HubSpot, portal: tuple[str, HubSpotSandbox]) -> None:
    pipelines = "CRM_Pipelines_v3_pipelines"
    stages_api = client.crm.pipelines.pipeline_stages_api
    stages = stages_api.get_all(object_type="deals", pipeline_id="default").results
    validate_last(stages_api, pipelines, "/crm/v3/pipelines/{objectType}/{pipelineId}/stages", "get")
    stages_api.get_by_id(object_type="deals", pipeline_id="default", stage_id=stages[-1].id)
    validate_last(
        stages_api, pipelines, "/crm/v3/pipelines/{objectType}/{pipelineId}/stages/{stageId}", "get"
    )

    owners_api = client.crm.owners.owners_api
    owners = owners_api.get_page(limit=100).results
    assert owners[0].email
    assert owners_api.get_by_id(owner_id=owners[0].id).user_id == owners[0].user_id

    groups_api = client.crm.properties.groups_api
    groups_api.get_by_name(object_type="deals", group_name="dealinformation")
    validate_last(groups_api, PROPS, "/crm/v3/properties/{objectType}/groups/{groupName}", "get")

    deal = client.crm.deals.basic_api.get_page(limit=1).results[0]
    assoc_api = client.crm.associations.v4.basic_api
    contacts = assoc_api.get_page(object_type="deals", object_id=deal.id, to_object_type="contacts")
    validate_last(
        assoc_api,
        "CRM_Associations_v4_associations",
        "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}",
        "get",
    )
    assert contacts.results[0].association_types[0].type_id == 3

    emails_api = client.crm.objects.emails.basic_api
    email = emails_api.get_page(limit=1, properties=["hs_timestamp"]).results[0]
    emails_api.get_by_id(email_id=email.id, properties=["hs_email_direction"], associations=["deals"])
    validate_last(emails_api, EMAILS, "/crm/v3/objects/emails/{emailId}", "get")


def test_custom_object_records_create_read_update(client: HubSpot) -> None:
    schemas = client.crm.schemas.core_api
    egg = ObjectSchemaEgg(
        name="fl_note",
        labels={"singular": "Note", "plural": "Notes"},
        required_properties=["title"],
        associated_objects=["0-3"],
        properties=[ObjectTypePropertyCreate(name="title", label="Title", type="string", field_type="text")],
    )
    schema = schemas.create(object_schema_egg=egg)
    schemas.get_by_id(object_type=schema.object_type_id)
    validate_last(schemas, "CRM_Schemas_v3_schemas", "/crm-object-schemas/v3/schemas/{objectType}", "get")
    basic, batch = client.crm.objects.basic_api, client.crm.objects.batch_api
    one = basic.create(
        object_type="fl_note", simple_public_object_input_for_create={"properties": {"title": "a"}}
    )
    validate_last(basic, OBJECTS, "/crm/v3/objects/{objectType}", "post", 201)
    created = batch.create(
        object_type=schema.object_type_id,
        batch_input_simple_public_object_batch_input_for_create={
            "inputs": [{"properties": {"title": t}} for t in "bc"]
        },
    )
    validate_last(batch, OBJECTS, "/crm/v3/objects/{objectType}/batch/create", "post", 201)
    basic.update(
        object_type="fl_note", object_id=one.id, simple_public_object_input={"properties": {"title": "z"}}
    )
    validate_last(basic, OBJECTS, "/crm/v3/objects/{objectType}/{objectId}", "patch")
    titles = {basic.get_by_id(object_type="fl_note", object_id=i, properties=["title"]).properties["title"]
              for i in [one.id, *(r.id for r in created.results)]}  # fmt: skip
    assert titles == {"z", "b", "c"}
