"""The collector upload path (SPEC §4.1, §5): body → records → validated columns. The service
that stores them is telemetry.services.telemetry_ingest_batch."""
