"""Build the ``alerts-gitlab`` development set from GitLab.com's alert rules and its runbooks.

    python bench/gitlab_set.py [--shared ../shared] [--out bench/data/alerts-gitlab.jsonl]

Each alerting rule whose ``runbook`` annotation resolves to an article (``runbook_file`` in
``raw-queries/gitlab-alert-rules.json``) gives what an on-call engineer receives, judged against
the runbook the rule points to:
- ``alert-name``: the rule's name, only when every rule of that name points to the same runbook
  (``component_saturation_slo_out_of_bounds`` names dozens of different resources);
- ``alert-summary``: the title a pager shows, label placeholders filled with plausible values;
- ``alert-description``: the description, filled the same way.
Identical (query, runbook) pairs are kept once. The hand-written engineer questions and pasted
log lines in ``bench/data/gitlab-engineer.jsonl`` (judged by reading the articles) are appended.
The output is deterministic, so a rerun changes nothing unless the rules do.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
LABELS = {
    "stage": "main", "region": "us-east1-d", "instance": "web-03-sv-gprd.c.gitlab-production.internal",
    "fqdn": "file-27-stor-gprd.c.gitlab-production.internal", "job": "gitlab-rails",
    "namespace": "gitlab", "pod": "gitlab-webservice-default-6f9d8b7c5-x2kqz",
    "component": "puma", "environment": "gprd", "env": "gprd", "resource": "cpu",
    "worker": "pipeline_processing:stage_update", "relname": "ci_builds", "verb": "GET",
    "shard": "default", "container": "webservice", "statefulset": "prometheus-gitlab",
    "daemonset": "fluentd-elasticsearch", "slot_name": "patroni_02", "integration": "slack",
    "gateway_name": "nat-gateway-1", "quota": "CPUS", "device": "/dev/sdb", "mountpoint": "/var/opt/gitlab",
    "cluster": "gprd-gitlab-gke", "queue": "default", "host": "patroni-v12-03-db-gprd",
    "storage": "nfs-file27", "tier": "sv", "feature_category": "continuous_integration",
}
_VALUE = re.compile(r"\{\{\s*\$value[^}]*\}\}")
_LABEL = re.compile(r"\{\{\s*\$(?:labels|externalLabels)\.(\w+)\s*\}\}")
_OTHER = re.compile(r"\{\{[^}]*\}\}")


def render(text: str, labels: dict[str, str], runbook: str) -> str:
    """An alert text as a pager shows it: placeholders filled, white space collapsed."""
    service = runbook.split("/")[1] if runbook.count("/") >= 2 else "web"

    def label(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "type":
            return labels.get("type") or service
        return labels.get(name) or LABELS.get(name, name.replace("_", "-") + "-01")

    out = _LABEL.sub(label, text)
    out = _VALUE.sub("93.5%", out)
    out = _OTHER.sub(" ", out)
    out = re.sub(r"https?://\S+", " ", out)  # dashboard links: no article contains them
    return " ".join(out.split())


def build(shared: Path) -> list[dict[str, Any]]:
    corpus = shared / "corpora/gitlab-com-runbooks"
    rules = json.loads((corpus / "raw-queries/gitlab-alert-rules.json").read_text())
    rules = [r for r in rules if r.get("runbook_file")]
    targets: dict[str, set[str]] = defaultdict(set)
    for r in rules:
        targets[r["alert"]].add(r["runbook_file"])
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, query: str, runbook: str, alert: str) -> None:
        if len(query) < 8 or (query, runbook) in seen:
            return
        seen.add((query, runbook))
        out.append({"id": f"gl-{alert}-{kind}-{len(out)}", "query": query, "relevant": [runbook],
                    "kind": kind})

    for r in rules:
        runbook = r["runbook_file"]
        labels = {k: str(v) for k, v in (r.get("labels") or {}).items()}
        if len(targets[r["alert"]]) == 1:
            add("alert-name", r["alert"], runbook, r["alert"])
        if r.get("title"):
            add("alert-summary", render(r["title"], labels, runbook), runbook, r["alert"])
        if r.get("description"):
            add("alert-description", render(r["description"], labels, runbook)[:600], runbook,
                r["alert"])
    hand = _HERE / "data/gitlab-engineer.jsonl"
    for line in hand.read_text().splitlines():
        if line.strip():
            q = json.loads(line)
            missing = [p for p in q["relevant"] if not (corpus / "articles" / p).is_file()]
            if missing:
                raise SystemExit(f"{q['id']}: no such article {missing}")
            out.append(q)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=_HERE.parents[1] / "shared")
    ap.add_argument("--out", type=Path, default=_HERE / "data/alerts-gitlab.jsonl")
    args = ap.parse_args()
    rows = build(args.shared)
    with args.out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = defaultdict(int)
    for row in rows:
        kinds[row["kind"]] += 1
    print(f"{len(rows)} queries -> {args.out}: {dict(kinds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
