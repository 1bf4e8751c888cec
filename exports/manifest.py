"""``manifest.json`` (docs/formats.md, field names exactly as written there) and the dataset
card."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from .models import Export
from .pipeline import PipelineResult
from .readable import code_text, value_text
from .spec import PREFERENCE_FORMATS, ExportSpec

MARGIN_NOTES = {
    "human": "margin = |mean preference| of the counted labels (scale 0..2)",
    "reward": "margin = |r_chosen - r_rejected| of the pair's aggregate rewards (scale 0..1)",
    "both": (
        "human and reward margins must agree in direction and each clear min_margin; "
        "margin = the reward margin (scale 0..1)"
    ),
}
NOTE_TEXT = {
    "prior_without_scores": (
        "Imported prior labels (HH-RLHF preferences, XSTest compliance labels) carry no severity "
        "or helpfulness, so pairs labelled only by them are left out of score-based rows "
        "(counted as no_scores)."
    ),
}


# What a preference export's manifest says until its learnability report is ready: the files
# come first, then a worker computes the report and writes manifest and card again.
LEARNABILITY_PENDING: dict[str, Any] = {
    "status": "pending",
    "message": "computed by a worker after the files are written; manifest.json and README.md "
    "(here and in the archive) are written again with the report, the data files unchanged",
}


def app_version() -> str:
    try:
        return metadata.version("graylab")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_manifest(
    *,
    export: Export,
    spec: ExportSpec,
    result: PipelineResult,
    severity_to_safety: dict[str, float],
    agreement: dict[str, Any] | None,
    graders: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest of a finished export, from the pipeline's own counts."""
    counts: dict[str, Any] = {
        "pairs_considered": result.pairs_considered,
        "rows_written": result.rows_written,
        "left_out": dict(result.left_out),
        "rows_by_split": dict(result.splits),
        "rows_by_label_source": dict(result.rows_by_label_source),
    }
    counts.update(result.extra_counts)
    manifest: dict[str, Any] = {
        "export_id": str(export.id),
        "format": spec.format,
        "created_at": export.created_at.isoformat().replace("+00:00", "Z"),
        "app_version": app_version(),
        "selection": spec.selection(),
        "preference_source": spec.preference_source,
        "label_source": spec.label_source,
        "labels": spec.labels,
        "consensus_runs": list(result.consensus_runs),
        "graders": list(graders or []),
        "min_grader_confidence": spec.min_grader_confidence,
        "min_margin": spec.min_margin,
        "seed": spec.seed,
        "split_ratios": dict(spec.split_ratios),
        "policy_version": {
            "number": export.policy_version.number if export.policy_version else None,
            "severity_to_safety": dict(severity_to_safety),
        },
        "files": [record.as_dict() for record in result.files],
        "combined_files": [
            {key: value for key, value in record.as_dict().items() if key != "category"}
            for record in result.combined_files
        ],
        "counts": counts,
        "agreement": agreement,
        "settings": {
            "sft_threshold": spec.sft_threshold,
            "kto_threshold": spec.kto_threshold,
            "pseudonymise_annotators": spec.pseudonymise_annotators,
            "archive_format": spec.archive_format,
            "margin": MARGIN_NOTES[spec.preference_source],
        },
        "notes": [
            NOTE_TEXT.get(note, note)
            for note in sorted(
                set(result.notes)
                | ({"prior_without_scores"} if "prior" in spec.label_sources else set())
            )
        ],
    }
    if spec.format in PREFERENCE_FORMATS:
        manifest["learnability"] = dict(LEARNABILITY_PENDING)
    return manifest


FORMAT_TEXT = {
    "openai-dpo": "OpenAI preference fine-tuning (DPO) rows: input.messages, preferred_output, "
    "non_preferred_output.",
    "openai-sft": "OpenAI chat fine-tuning rows: one per prompt, its best fully safe (s = 1) and "
    "helpful enough candidate as the final assistant turn.",
    "trl-preference": "Hugging Face TRL conversational preference rows (prompt, chosen, rejected) "
    "with margin, category, intent and pair_id.",
    "trl-kto": "Hugging Face TRL KTO rows (prompt, completion, label): label is true when the "
    "candidate's mean reward r is over the KTO threshold.",
    "reward": "Pointwise rows per candidate with mean safety s, helpfulness h and reward r = h·s "
    "over every counted rating, for training separate safety and helpfulness reward models.",
    "judgments": "Raw judgments, one JSON row each, annotators as stable pseudonyms.",
    "judgments-csv": "Raw judgments, one CSV record each, annotators as stable pseudonyms; "
    "formula-like cells are neutralised.",
    "grades": "A grader version's grades, one JSON row each (a candidate, or a pair in one "
    "order): each field's value and confidence, the rationale and the raw answers. AI labels, "
    "not human judgments.",
}
# The agreement block's figures by name ("—" where one could not be computed).
AGREEMENT_TEXT = {
    "severity_alpha_ordinal": "Severity (ordinal alpha)",
    "helpfulness_alpha_ordinal": "Helpfulness (ordinal alpha)",
    "preference_alpha_interval": "Preference (interval alpha)",
    "units": "Units",
    "over": "Over",
}
LABEL_SOURCE_TEXT = {
    "human": "human labels only (judgments, reviews, and prior labels where trusted)",
    "grader": "the grader's labels only (AI labels, no human judgment)",
    "human-else-grader": "human labels where they qualify, the grader's otherwise; each row's "
    "metadata says which",
}


def dataset_card(manifest: dict[str, Any]) -> str:
    """``README.md``: what, how and how many, written from the manifest's own numbers."""
    counts = manifest["counts"]
    policy = manifest["policy_version"]
    selection = manifest["selection"]
    lines = [
        f"# Graylab export {manifest['export_id']}",
        "",
        f"Format: `{manifest['format']}` — {FORMAT_TEXT.get(manifest['format'], '')}",
        "",
        "## How it was made",
        "",
        f"- Campaigns: {', '.join(selection['campaigns'])}",
        f"- Categories: {', '.join(selection['categories']) or 'all'}; intents: "
        f"{', '.join(selection['intents']) or 'all'}",
        f"- Judgment dates: {selection['date_from'] or 'any'} to {selection['date_to'] or 'any'}",
        f"- Labels trusted: {', '.join(selection['label_sources'])} (a review overrides raw "
        "judgments; prior labels are used only where neither exists)",
        f"- Minimum judgments per pair: {selection['min_judgments']}; minimum agreement: "
        f"{selection['min_agreement']}",
        f"- Label source: `{manifest['label_source']}` — "
        f"{LABEL_SOURCE_TEXT[manifest['label_source']]}",
        *[
            f"- Grader `{grader['name']}` version {grader['version']}: model `{grader['model']}` "
            f"on endpoint `{grader['endpoint']}`, policy version {grader['policy_version']}, "
            f"templates sha256 `{grader['templates_sha256']}`; minimum confidence "
            f"{manifest['min_grader_confidence']}"
            for grader in manifest["graders"]
        ],
        *(
            [
                "- Labels: `consensus` — response mode, severity and the preference's direction "
                "from each campaign's Dawid–Skene consensus (raters weighted by their estimated "
                "reliability); helpfulness and the preference's strength from the judgments: "
                + ", ".join(
                    f"campaign {run['campaign']} consensus run {run['id']} "
                    f"computed {run['computed_at']}"
                    for run in manifest["consensus_runs"]
                )
            ]
            if manifest.get("labels") == "consensus"
            else []
        ),
        f"- Preference source: `{manifest['preference_source']}`, minimum margin "
        f"{manifest['min_margin']} ({manifest['settings']['margin']})",
        f"- Policy version {policy['number']}; severity → safety: "
        + ", ".join(f"{k} {v}" for k, v in policy["severity_to_safety"].items()),
        "- Scores (rubric): s = S[severity], h = (helpfulness − 1) / 3, r = h · s; a candidate's "
        "scores are means over its ratings",
        f"- Splits by prompt (seeded hash of the prompt's content, seed {manifest['seed']}): "
        + ", ".join(f"{k} {v}" for k, v in manifest["split_ratios"].items()),
        "",
        "## Counts",
        "",
        f"- Pairs considered: {counts['pairs_considered']}",
        f"- Rows written: {counts['rows_written']} ("
        + ", ".join(f"{k} {v}" for k, v in counts["rows_by_split"].items())
        + ")",
        "- Rows by label source: "
        + ", ".join(f"{k} {v}" for k, v in counts["rows_by_label_source"].items()),
        "- Left out: "
        + (", ".join(f"{code_text(k)} {v}" for k, v in counts["left_out"].items() if v) or "none"),
    ]
    shown = {
        "pairs_considered",
        "rows_written",
        "left_out",
        "rows_by_split",
        "rows_by_label_source",
    }
    for key, value in counts.items():
        if key not in shown:
            lines.append(f"- {key.replace('_', ' ')}: {value}")
    if manifest.get("agreement"):
        lines += ["", "## Agreement (Krippendorff's alpha over the selection)", ""]
        for key, value in manifest["agreement"].items():
            if isinstance(value, dict):
                value = ", ".join(f"{count} {unit}" for unit, count in value.items())
            lines.append(f"- {AGREEMENT_TEXT.get(key, code_text(key))}: {value_text(value)}")
    if manifest.get("learnability"):
        lines += learnability_card(manifest["learnability"])
    lines += ["", "## Files", "", "| file | rows | sha256 |", "|---|---|---|"]
    lines += [f"| `{f['path']}` | {f['rows']} | `{f['sha256']}` |" for f in manifest["files"]]
    combined = manifest.get("combined_files") or []
    if combined:
        lines += [
            "",
            "## One file per split",
            "",
            "Every category's rows of a split together, each naming its category (`category`; "
            "in `<split>.metadata.jsonl` for formats whose rows admit no extra key, line n "
            "describing row n), in the order of the files above.",
            "",
            "| file | rows | sha256 |",
            "|---|---|---|",
        ]
        lines += [f"| `{f['path']}` | {f['rows']} | `{f['sha256']}` |" for f in combined]
    if manifest.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in manifest["notes"]]
    lines += [
        "",
        f"Made with Graylab {manifest['app_version']} on {manifest['created_at']}.",
        "",
    ]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _interval(interval: list[float] | None) -> str:
    return "—" if not interval else f"[{_percent(interval[0])}, {_percent(interval[1])}]"


def learnability_card(report: dict[str, Any]) -> list[str]:
    """The dataset card's section on the learnability report (docs/formats.md)."""
    lines = ["", "## Learnability", ""]
    status = report.get("status")
    if status != "ok":
        state = "Pending" if status == LEARNABILITY_PENDING["status"] else "Not computed"
        return [*lines, f"- {state}: {report.get('message') or code_text(status)}"]
    method = report["method"]
    pairs = report["pairs"]
    lines += [
        f"A small reward model trained on the train split ({pairs['train']} pairs, on CPU, "
        f"seed {report['seed']}): {method['model']}; features: {method['features']}. "
        f"Accuracy = share of pairs whose chosen response it scores higher; intervals: "
        f"{method['interval']}. Baseline: {method['baseline']} (it prefers the "
        f"{report['length_direction']} response).",
        "",
        "| split | pairs | accuracy | 95% interval | length-only baseline | baseline interval "
        "| learning curve (25/50/100% of train) |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, block in report["splits"].items():
        baseline = block["length_baseline"]
        curve = " / ".join(_percent(point["accuracy"]) for point in block["learning_curve"])
        lines.append(
            f"| {split} | {block['pairs']} | {_percent(block['accuracy'])} | "
            f"{_interval(block['interval'])} | {_percent(baseline['accuracy'])} | "
            f"{_interval(baseline['interval'])} | {curve} |"
        )
    for split, block in report["splits"].items():
        if block["length_bias"]:
            lines.append(
                f"\n**Length bias ({split})**: the length-only baseline beats chance and the "
                "model does no better than it; what the model learns may be length, not content."
            )
    for split, categories in report["not_above_chance"].items():
        if categories:
            lines.append(
                f"\nCategories whose {split} accuracy does not beat chance (interval includes "
                f"50%): {', '.join(categories)}"
            )
    lines += [
        "",
        "| split | category | pairs | accuracy | 95% interval | length-only |",
        "|---|---|---|---|---|---|",
    ]
    for split, block in report["splits"].items():
        lines += [
            f"| {split} | {row['category']} | {row['pairs']} | {_percent(row['accuracy'])} | "
            f"{_interval(row['interval'])} | {_percent(row['length_accuracy'])} |"
            for row in block["by_category"]
        ]
    if report["surprising"]:
        lines += [
            "",
            "Most surprising pairs (the model is most confident the label is the wrong way "
            "round; candidates for a label error):",
            "",
            "| split | pair | file:line | confidence against the label |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {item['split']} | {item['pair_id'] or '—'} | `{item['file'] or '—'}:"
            f"{item['line'] or '—'}` | {_percent(item['confidence_against_label'])} |"
            for item in report["surprising"]
        ]
    return lines
