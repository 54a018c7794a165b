// The feedbackloop card on a deal record: asks our service for the deal's template scores.
// HubSpot signs the hubspot.fetch request (signature v3) and adds portalId and userId to the query;
// the service verifies the signature before it answers (GET /hubspot/card).
import React, { useEffect, useState } from "react";
import {
  Alert,
  Divider,
  LoadingSpinner,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";

// Must be listed in app-hsmeta.json permittedUrls.fetch.
const SERVICE_URL = "https://feedbackloop.example.com";

hubspot.extend(({ context }) => <ScoresCard context={context} />);

const fmt = (value) => (value === null || value === undefined ? "n/a" : Number(value).toFixed(2));

const TemplateTable = ({ rows, withPosition }) => (
  <Table bordered={true}>
    <TableHead>
      <TableRow>
        {withPosition && <TableHeader>Step</TableHeader>}
        <TableHeader>Template</TableHeader>
        <TableHeader>Score</TableHeader>
        <TableHeader>Win rate</TableHeader>
        <TableHeader>Status</TableHeader>
      </TableRow>
    </TableHead>
    <TableBody>
      {rows.map((t) => (
        <TableRow key={t.template_id}>
          {withPosition && <TableCell>{t.position ?? ""}</TableCell>}
          <TableCell>{t.name || t.template_id}</TableCell>
          <TableCell>{fmt(t.score)}</TableCell>
          <TableCell>{t.win_rate === null || t.win_rate === undefined ? "n/a" : `${Math.round(t.win_rate * 100)}%`}</TableCell>
          <TableCell>{t.status || ""}</TableCell>
        </TableRow>
      ))}
    </TableBody>
  </Table>
);

const ScoresCard = ({ context }) => {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const dealId = context.crm.objectId;

  useEffect(() => {
    hubspot
      .fetch(`${SERVICE_URL}/hubspot/card?dealId=${encodeURIComponent(dealId)}`, { method: "GET", timeout: 10000 })
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then(setData)
      .catch((err) => setError(err.message));
  }, [dealId]);

  if (error) return <Alert title="feedbackloop is unavailable" variant="error">{error}</Alert>;
  if (!data) return <LoadingSpinner label="Loading template scores" />;
  if (data.status === "no_analysis") return <Text>No analysis yet: scores appear after the first sync.</Text>;
  return (
    <>
      <Text format={{ fontWeight: "bold" }}>
        Best templates for {data.segment || "all segments"} (as of {String(data.as_of).slice(0, 10)})
      </Text>
      <TemplateTable rows={data.segment_templates} withPosition={false} />
      <Divider />
      <Text format={{ fontWeight: "bold" }}>Templates this deal received</Text>
      <TemplateTable rows={data.deal_templates} withPosition={true} />
    </>
  );
};
