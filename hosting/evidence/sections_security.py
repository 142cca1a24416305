"""The site's edge security over the pack's period (SPEC §4): whether mTLS and the source-network
allowlist were on, from the site's audit chain (tenants.edge_attestation), each change with its seq
and hash — which the pack's audit/site_chain.jsonl stubs let a verifier place in the chain. Only
on/off and counts: a site's networks and certificate fingerprints are the operator's, not the customer's."""

from hosting.evidence.context import BuildContext
from hosting.evidence.zipout import PackZip
from tenants.edge_attestation import security_attestation


def security_files(pz: PackZip, ctx: BuildContext) -> None:
    """security/attestation.txt (the statement) and security/attestation.json."""
    att = security_attestation(site=ctx.site, start=ctx.start, end=ctx.end)
    data = att.as_dict()
    for change in data["changes"]:
        change["state"] = {
            "mtls_required": change["state"]["mtls_required"],
            "allowlist_networks": len(change["state"]["source_networks"]),
        }
    data["initial"] = {
        "mtls_required": data["initial"]["mtls_required"],
        "allowlist_networks": len(data["initial"]["source_networks"]),
        "basis": data["initial"]["basis"],
    }
    data["certificate_changes"] = [
        {k: c[k] for k in ("seq", "hash", "occurred_at", "action")} for c in data["certificate_changes"]
    ]
    pz.text("security/attestation.txt", "\n".join(att.lines(detail=False)) + "\n")
    pz.json("security/attestation.json", data)
