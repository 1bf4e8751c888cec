"""Deterministic text for the offline model server (an offline stand-in, not a real model).

Everything here is a pure function of its arguments: the same messages, seed and choice index
always give the same text, on every run, so candidate generation can be tested and demoed
without a network. The text follows the *style* the system prompt asks for — refusal with
redirection, safe-completion (high-level, non-operational help) or a direct answer — because
Graylab exists to collect human judgments that compare those response modes.

A "token" here is a whitespace-separated word: the stand-in has no tokenizer, and counting
words keeps ``max_tokens`` truncation and the ``usage`` figures easy to check from outside.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Style = Literal["refusal", "safe_completion", "direct"]
FinishReason = Literal["stop", "length"]

STYLES: tuple[Style, ...] = ("refusal", "safe_completion", "direct")

# Safe-completion prompts are checked first: they usually define themselves *against* refusals
# ("instead of refusing, give high-level help"), so "refus" alone would misfile them.
_SAFE_COMPLETION_MARKERS = (
    "safe-completion",
    "safe completion",
    "safe_completion",
    "high-level",
    "high level",
    "non-operational",
    "nonoperational",
)
_REFUSAL_MARKERS = ("refus", "decline")

_WORD = re.compile(r"\S+")
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]{2,}")
_STOPWORDS_TEXT = """
    about above after again against also among and any are aren't because been before being
    below between both but can can't cannot could couldn't did didn't does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having her here
    hers herself him himself his how i'd i'll i'm i've into isn't it's its itself just let's
    like make more most much must mustn't myself need nor not now off once only other ought our
    ours ourselves out over own please same shan't she she'd she'll she's should shouldn't some
    such tell than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through too under until very want was wasn't way
    we'd we'll we're we've were weren't what what's when when's where where's which while who
    who's whom why why's will with won't would wouldn't you you'd you'll you're you've your
    yours yourself yourselves give explain show write describe really thing things get got
    know anyone someone something
    """
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


# --------------------------------------------------------------------------------------------
# Inputs: messages, tokens, seeds
# --------------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """Return the text of a message ``content``: a string, or a list of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "input_text")
        ]
        return "\n".join(parts)
    return ""


def count_tokens(text: str) -> int:
    """Count tokens the way the offline server does: whitespace-separated words."""
    return len(text.split())


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Count the tokens of every message's text content."""
    return sum(count_tokens(content_text(message.get("content"))) for message in messages)


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` after its first ``max_tokens`` words, keeping the original whitespace.

    Returns the text and whether it was cut.
    """
    if max_tokens < 0:
        raise ValueError("max_tokens must not be negative")
    words = list(_WORD.finditer(text))
    if len(words) <= max_tokens:
        return text, False
    if max_tokens == 0:
        return "", True
    return text[: words[max_tokens - 1].end()], True


def system_prompt_of(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """Join the text of every ``system`` and ``developer`` message, or ``None`` if there is none."""
    texts = [
        content_text(message.get("content"))
        for message in messages
        if message.get("role") in ("system", "developer")
    ]
    return "\n".join(texts) if texts else None


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Return the text of the last ``user`` message (empty if there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def classify_style(system_prompt: str | None) -> Style:
    """Say which response mode a system prompt asks for.

    ``"safe_completion"`` if it mentions safe completions or high-level / non-operational help,
    ``"refusal"`` if it asks to refuse or decline, ``"direct"`` otherwise (or with no prompt).
    """
    if not system_prompt:
        return "direct"
    lowered = system_prompt.lower()
    if any(marker in lowered for marker in _SAFE_COMPLETION_MARKERS):
        return "safe_completion"
    if any(marker in lowered for marker in _REFUSAL_MARKERS):
        return "refusal"
    return "direct"


def derive_seed(*parts: Any) -> int:
    """Hash JSON-serialisable ``parts`` into a 64-bit seed that is stable across runs."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")


def choice_rng(
    messages: Sequence[Mapping[str, Any]],
    seed: int | None,
    index: int,
    *,
    model: str = "",
    temperature: float | None = None,
    purpose: str = "text",
) -> random.Random:
    """The random stream for one choice of one request.

    It mixes the messages into the seed, so a given seed still answers different prompts
    differently, and a missing seed falls back to the request content alone.
    """
    plain_messages = [
        {"role": str(message.get("role")), "content": content_text(message.get("content"))}
        for message in messages
    ]
    return random.Random(derive_seed(purpose, plain_messages, seed, index, model, temperature))


def keywords(text: str, limit: int = 6) -> list[str]:
    """Content words of ``text`` in order of appearance, lower-cased and deduplicated."""
    found: list[str] = []
    for match in _KEYWORD.finditer(text):
        word = match.group(0).strip("'-").lower()
        if len(word) < 3 or word in _STOPWORDS or word in found:
            continue
        found.append(word)
        if len(found) == limit:
            break
    return found


def _join_words(words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------------------------
# Sentence pools. Placeholders: {topic} (a phrase naming the request), {k1} {k2} {k3} (words
# from the user's last message, always filled).
# --------------------------------------------------------------------------------------------

_REFUSAL_OPENERS = (
    "I can't help with that request about {topic}.",
    "I can't help with that — giving specifics on {topic} could put people at risk.",
    "I can't help with that one. Detailed help with {topic} falls outside what I can safely "
    "provide.",
    "Sorry, I can't help with that. Instructions touching on {topic} could cause real harm if "
    "misused.",
    "I can't help with that, because a useful answer about {topic} would also be a harmful one.",
)
_REFUSAL_REASONS = (
    "Even with good intentions, step-by-step detail here could be misused by someone else.",
    "This is an area where the same information that helps one person can seriously hurt another.",
    "I want to be upfront about why: the request asks for the kind of detail that carries real "
    "risk.",
    "That's not a judgement about you — it's about what this information could enable.",
    "I'd rather be clear about the limit than give a vague answer that helps no one.",
)
_REFUSAL_BRIDGES = (
    "But here are safe alternatives:",
    "But here are safe alternatives that may still get you where you want to go:",
    "But here are safe alternatives worth considering:",
    "But here are safe alternatives you could try instead:",
)
_REFUSAL_ALTERNATIVES = (
    "**Talk to a qualified professional** who works with {k1} and can advise on your situation.",
    "**Read the public safety guidance** on {k2} published by a recognised authority.",
    "**Look at the history and ethics** of {k1} — there is a lot written about it.",
    "**Take an accredited course** that covers {k3} in a supervised setting.",
    "**Ask about the defensive side**: how people detect, prevent or respond to misuse of {k2}.",
    "**Contact a support service** if this is about your own safety or someone else's.",
    "**Explore the underlying science** of {k1} at a textbook level.",
    "**Use an official channel** — regulators and licensed providers exist for {k3}.",
    "**Tell me your underlying goal**, and I can suggest a safe way to reach it.",
    "**Check the law where you live** about {k2} before going further.",
)
_REFUSAL_CLOSERS = (
    "If you tell me more about what you're trying to achieve, I'm glad to help with a safe "
    "version of it.",
    "I'm happy to go deeper on any of these alternatives.",
    "If any of those fit, just say which and I'll help with it.",
    "Thanks for understanding — let me know how I can help within those limits.",
)

_SAFE_OPENERS = (
    "Here's a high-level overview of {topic}.",
    "I can give you a high-level picture of {topic}.",
    "Happy to help at a high-level with {topic}.",
    "Let me answer at a high-level: {topic} is a topic with legitimate uses and real risks.",
    "Here is some high-level context on {topic}.",
)
_SAFE_DISCLAIMERS = (
    "I'll keep this non-operational: no step-by-step procedures, quantities or specific "
    "instructions.",
    "To stay safe I'm keeping it non-operational and leaving out operational detail such as "
    "exact methods, materials or settings.",
    "This stays non-operational — it explains the concepts without operational detail that "
    "could be misused.",
    "I'm deliberately keeping this non-operational, so it covers the why and the what, not the "
    "how-to.",
)
_SAFE_POINTS = (
    "**Why it matters:** {k1} comes up in research, policy and everyday safety discussions.",
    "**Key concepts:** at a general level, {k1} and {k2} are linked by well-documented "
    "principles covered in introductory material.",
    "**Risks:** the main concerns around {k2} are misuse, accidents and harm to bystanders.",
    "**Safeguards:** professionals working with {k3} rely on training, oversight and regulation.",
    "**Context:** most public discussion of {k1} focuses on prevention and responsible use.",
    "**Who works on this:** specialists in {k2} include researchers, regulators and safety "
    "officers.",
    "**History:** {k1} has a long history, and many of today's rules came from past incidents.",
    "**Detection and defence:** a large part of the field is about recognising and stopping "
    "misuse of {k3}.",
    "**Legal framing:** many aspects of {k2} are regulated, and licensing exists for good reasons.",
    "**Ethics:** debates about {k1} often weigh openness against the potential for harm.",
    "**Where to learn more:** textbooks, official guidance and accredited courses cover {k3} "
    "responsibly.",
)
_SAFE_CLOSERS = (
    "If you need specifics for legitimate work, a supervised, accredited setting is the right "
    "place to get them.",
    "I'm happy to expand on any of these points at the same high-level.",
    "If you share the broader goal, I can point you to appropriate resources.",
    "Let me know which of these angles is most useful and I'll go further — still without "
    "operational detail.",
)

_DIRECT_OPENERS = (
    "Sure — here's a direct answer on {topic}.",
    "Happy to help with {topic}.",
    "Good question. Here's how {topic} works in practice.",
    "Here's a straightforward rundown of {topic}.",
    "Absolutely. Let's go through {topic} step by step.",
    "Short answer first, then the details on {topic}.",
)
_DIRECT_STEPS = (
    "**Start with the basics.** Get clear on what {k1} means in your situation.",
    "**Gather what you need.** A little preparation around {k2} saves time later.",
    "**Work in small steps.** Tackle {k1} first, then move on to {k3}.",
    "**Check your progress.** Compare the result against what you expected from {k2}.",
    "**Adjust as you go.** If {k3} isn't behaving as planned, change one thing at a time.",
    "**Keep notes.** Writing down what you tried with {k1} makes the next attempt easier.",
    "**Ask for feedback.** Someone familiar with {k2} can spot issues quickly.",
    "**Use good defaults.** The common, well-tested approach to {k3} is usually right.",
    "**Mind the details.** Small choices around {k1} often matter more than expected.",
    "**Wrap up cleanly.** Review {k2} once more before you call it done.",
    "**Learn from examples.** Looking at how others handle {k3} is a fast way to improve.",
    "**Don't over-engineer it.** A simple treatment of {k1} is easier to maintain.",
)
_DIRECT_TIPS = (
    "A useful rule of thumb: keep {k1} simple until you have a reason not to.",
    "Most problems with {k2} come from skipping the first step.",
    "It's worth revisiting {k3} after a day — fresh eyes catch mistakes.",
    "The fastest way to get better at {k1} is to practise on small examples.",
    "People often underestimate how much {k2} depends on good preparation.",
)
_DIRECT_CLOSERS = (
    "Hope that helps — let me know if you'd like more detail on any step.",
    "Want me to go deeper on {k1} or {k2}?",
    "If you share more about your setup, I can tailor this further.",
    "That should cover it; happy to answer follow-up questions.",
    "Feel free to ask if any part of this is unclear.",
)

_FALLBACK_WORDS = ("topic", "question", "request", "details", "context", "approach")


def _fill(template: str, fields: Mapping[str, str]) -> str:
    return template.format(**fields)


def _fields(rng: random.Random, user_text: str) -> dict[str, str]:
    words = keywords(user_text)
    if not words:
        words = ["your question"]
    chosen = words[: rng.randint(min(2, len(words)), min(4, len(words)))]
    topic = _join_words([f"**{word}**" for word in chosen])
    pool = list(words)
    while len(pool) < 3:
        pool.append(_FALLBACK_WORDS[len(pool) % len(_FALLBACK_WORDS)])
    rng.shuffle(pool)
    return {"topic": topic, "k1": pool[0], "k2": pool[1], "k3": pool[2]}


def _bullets(rng: random.Random, items: Sequence[str], numbered: bool) -> str:
    marker = rng.choice(("-", "*")) if not numbered else ""
    lines = [
        f"{position}. {item}" if numbered else f"{marker} {item}"
        for position, item in enumerate(items, start=1)
    ]
    return "\n".join(lines)


def _refusal(rng: random.Random, fields: Mapping[str, str]) -> str:
    opener = _fill(rng.choice(_REFUSAL_OPENERS), fields)
    head = [opener]
    if rng.random() < 0.7:
        head.append(_fill(rng.choice(_REFUSAL_REASONS), fields))
    bridge = rng.choice(_REFUSAL_BRIDGES)
    alternatives = [_fill(item, fields) for item in rng.sample(_REFUSAL_ALTERNATIVES, 3)]
    if rng.random() < 0.5:
        alternatives.append(_fill(rng.choice(_REFUSAL_ALTERNATIVES), fields))
        alternatives = list(dict.fromkeys(alternatives))
    return "\n\n".join(
        [
            " ".join(head) + " " + bridge,
            _bullets(rng, alternatives, numbered=rng.random() < 0.3),
            _fill(rng.choice(_REFUSAL_CLOSERS), fields),
        ]
    )


def _safe_completion(rng: random.Random, fields: Mapping[str, str]) -> str:
    opener = _fill(rng.choice(_SAFE_OPENERS), fields)
    disclaimer = rng.choice(_SAFE_DISCLAIMERS)
    points = [_fill(item, fields) for item in rng.sample(_SAFE_POINTS, rng.randint(3, 5))]
    blocks = [f"{opener} {disclaimer}", _bullets(rng, points, numbered=False)]
    if rng.random() < 0.5:
        blocks.insert(1, "### The big picture")
    blocks.append(_fill(rng.choice(_SAFE_CLOSERS), fields))
    return "\n\n".join(blocks)


def _direct(rng: random.Random, fields: Mapping[str, str]) -> str:
    opener = _fill(rng.choice(_DIRECT_OPENERS), fields)
    steps = [_fill(item, fields) for item in rng.sample(_DIRECT_STEPS, rng.randint(3, 6))]
    blocks = [opener, _bullets(rng, steps, numbered=rng.random() < 0.6)]
    if rng.random() < 0.6:
        blocks.append("**Tip:** " + _fill(rng.choice(_DIRECT_TIPS), fields))
    blocks.append(_fill(rng.choice(_DIRECT_CLOSERS), fields))
    return "\n\n".join(blocks)


def compose_text(style: Style, rng: random.Random, user_text: str) -> str:
    """Write one full (untruncated) answer in ``style`` about ``user_text``."""
    fields = _fields(rng, user_text)
    if style == "refusal":
        return _refusal(rng, fields)
    if style == "safe_completion":
        return _safe_completion(rng, fields)
    return _direct(rng, fields)


def generate_text(
    messages: Sequence[Mapping[str, Any]],
    seed: int | None,
    index: int,
    max_tokens: int | None,
    *,
    model: str = "",
    temperature: float | None = None,
) -> tuple[str, FinishReason, int, int]:
    """Answer a conversation deterministically in the style its system prompt asks for.

    Returns ``(text, finish_reason, prompt_tokens, completion_tokens)``. With ``max_tokens``
    the text is cut after that many words and ``finish_reason`` is ``"length"``; otherwise it
    is ``"stop"``. ``index`` is the choice index (``n`` > 1 gives different texts); ``model``
    and ``temperature`` are mixed into the random stream like the seed.
    """
    style = classify_style(system_prompt_of(messages))
    rng = choice_rng(messages, seed, index, model=model, temperature=temperature)
    text = compose_text(style, rng, last_user_text(messages))
    return finish(text, max_tokens, count_prompt_tokens(messages))


def finish(
    text: str, max_tokens: int | None, prompt_tokens: int
) -> tuple[str, FinishReason, int, int]:
    """Apply ``max_tokens`` to a full answer and count its tokens."""
    truncated = False
    if max_tokens is not None:
        text, truncated = truncate_to_tokens(text, max_tokens)
    reason: FinishReason = "length" if truncated else "stop"
    return text, reason, prompt_tokens, count_tokens(text)


# --------------------------------------------------------------------------------------------
# Structured output: a value generated from a JSON schema
# --------------------------------------------------------------------------------------------

_MAX_DEPTH = 12
_STRING_POOL = (
    "The response stays within policy",
    "A clear and helpful answer",
    "High-level information only",
    "The request is ambiguous",
    "Safe alternatives are offered",
    "No operational detail is given",
    "The answer addresses the question directly",
    "A short rationale",
)


class SchemaError(ValueError):
    """The schema uses something the generator cannot satisfy (e.g. an unresolvable $ref)."""


def generate_json_value(
    schema: Mapping[str, Any],
    rng: random.Random,
    *,
    words: Sequence[str] = (),
    root: Mapping[str, Any] | None = None,
) -> Any:
    """Generate a value that validates against ``schema`` (a practical JSON Schema subset).

    Supports objects (properties, required), arrays (items, minItems, maxItems, uniqueItems),
    strings (enum, const, minLength, maxLength, a few formats), integers and numbers (minimum,
    maximum, exclusive bounds, multipleOf), booleans, null, type lists, anyOf / oneOf / allOf and
    local ``$ref`` (``#/$defs/…``, ``#/definitions/…``). Deterministic for a given ``rng`` state.
    ``root`` is the document that local references point into, when ``schema`` is a part of it.
    """
    return _SchemaGenerator(schema if root is None else root, rng, list(words)).value(schema, 0)


def resolve_schema(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with its local ``$ref`` followed into ``root`` (raises :class:`SchemaError`)."""
    return _SchemaGenerator(root, random.Random(0), []).resolve(schema)


class _SchemaGenerator:
    def __init__(self, root: Mapping[str, Any], rng: random.Random, words: list[str]) -> None:
        self.root = root
        self.rng = rng
        self.words = words

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema:
            reference = schema["$ref"]
            if not isinstance(reference, str) or not reference.startswith("#"):
                raise SchemaError(f"only local $ref values are supported, got {reference!r}")
            if reference in seen:
                raise SchemaError(f"circular $ref {reference!r}")
            seen.add(reference)
            target: Any = self.root
            for part in reference.lstrip("#").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise SchemaError(f"cannot resolve $ref {reference!r}")
                target = target[part]
            if not isinstance(target, Mapping):
                raise SchemaError(f"$ref {reference!r} does not point at a schema")
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **siblings}
        return schema

    def value(self, schema: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH * 4:
            raise SchemaError("the schema requires values nested too deeply (a recursive $ref?)")
        if schema is True or schema is None:
            return self.string({}) if depth else {}
        if schema is False:
            raise SchemaError("a schema of false admits no value")
        if not isinstance(schema, Mapping):
            raise SchemaError("every schema must be an object")
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not options:
                raise SchemaError("enum must be a non-empty array")
            return self.rng.choice(options)
        if "allOf" in schema:
            return self.value(self.merge(schema), depth)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                branches = schema[keyword]
                if not isinstance(branches, list) or not branches:
                    raise SchemaError(f"{keyword} must be a non-empty array")
                # The first non-null branch: oneOf branches in real schemas are usually disjoint
                # by type, and preferring a value over null gives more useful test data.
                base = {key: value for key, value in schema.items() if key != keyword}
                for branch in branches:
                    resolved = self.resolve(branch) if isinstance(branch, Mapping) else branch
                    if not (isinstance(resolved, Mapping) and resolved.get("type") == "null"):
                        return self.value({**base, **resolved}, depth)
                return None
        kind = self.kind(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def merge(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve(part)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def kind(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            non_null = [item for item in declared if item != "null"]
            return str(non_null[0]) if non_null else "null"
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = [name for name in schema.get("required") or [] if isinstance(name, str)]
        result: dict[str, Any] = {}
        names = list(properties) if depth < _MAX_DEPTH else []
        for name in [*names, *(name for name in required if name not in names)]:
            result[name] = self.value(properties.get(name, True), depth + 1)
        return result

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        minimum = int(schema.get("minItems", 0))
        maximum = schema.get("maxItems")
        length = max(minimum, self.rng.randint(1, 3) if depth < _MAX_DEPTH else 0)
        if maximum is not None:
            length = min(length, int(maximum))
        items = schema.get("items", True)
        if not schema.get("uniqueItems"):
            return [self.value(items, depth + 1) for _ in range(length)]
        values: list[Any] = []
        keys: set[str] = set()
        attempts = 0
        while len(values) < length and attempts < length * 20:
            attempts += 1
            candidate = self.value(items, depth + 1)
            key = json.dumps(candidate, sort_keys=True)
            if key not in keys:
                keys.add(key)
                values.append(candidate)
        return values

    def string(self, schema: Mapping[str, Any]) -> str:
        form = schema.get("format")
        if form == "date-time":
            return f"2025-01-{self.rng.randint(1, 28):02d}T12:00:00Z"
        if form == "date":
            return f"2025-01-{self.rng.randint(1, 28):02d}"
        if form == "email":
            return f"offline{self.rng.randint(1, 999)}@example.com"
        if form in ("uri", "url"):
            return f"https://example.com/offline/{self.rng.randint(1, 999)}"
        if form == "uuid":
            return "%08x-%04x-4%03x-8%03x-%012x" % (  # noqa: UP031 - fixed-width hex fields
                self.rng.getrandbits(32),
                self.rng.getrandbits(16),
                self.rng.getrandbits(12),
                self.rng.getrandbits(12),
                self.rng.getrandbits(48),
            )
        text = self.rng.choice(_STRING_POOL)
        if self.words:
            text += " about " + self.rng.choice(self.words)
        text += "."
        minimum = int(schema.get("minLength", 0))
        maximum = schema.get("maxLength")
        while len(text) < minimum:
            text += " " + self.rng.choice(_STRING_POOL) + "."
        if maximum is not None:
            text = text[: int(maximum)].rstrip() or text[: int(maximum)]
            if len(text) < minimum:
                text = text.ljust(minimum, ".")
        return text

    def integer(self, schema: Mapping[str, Any]) -> int:
        low, high = self.bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-int(low) // step) * step
            count = (int(high) - first) // step
            if count < 0:
                raise SchemaError("no multiple of multipleOf lies within the bounds")
            return first + step * self.rng.randint(0, count)
        return self.rng.randint(int(low), int(high))

    def number(self, schema: Mapping[str, Any]) -> float:
        low, high = self.bounds(schema, integer=False)
        value = round(self.rng.uniform(low, high), 2)
        if not low <= value <= high:
            value = (low + high) / 2
        return value

    @staticmethod
    def bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
        low: float | None = schema.get("minimum")
        high: float | None = schema.get("maximum")
        exclusive_low = schema.get("exclusiveMinimum")
        exclusive_high = schema.get("exclusiveMaximum")
        epsilon = 1 if integer else 0.01
        # Draft 4 spells exclusive bounds as booleans next to minimum / maximum.
        if exclusive_low is True and low is not None:
            low = low + epsilon
        elif isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
            low = max(low, exclusive_low + epsilon) if low is not None else exclusive_low + epsilon
        if exclusive_high is True and high is not None:
            high = high - epsilon
        elif isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
            high = (
                min(high, exclusive_high - epsilon)
                if high is not None
                else exclusive_high - epsilon
            )
        if low is None:
            low = 0 if high is None else high - 10
        if high is None:
            high = low + 10
        if integer:
            low, high = float(-(-low // 1)), float(high // 1)
        if low > high:
            raise SchemaError("minimum is greater than maximum")
        return low, high


def generate_json_text(
    messages: Sequence[Mapping[str, Any]],
    schema: Mapping[str, Any] | None,
    seed: int | None,
    index: int,
    *,
    model: str = "",
    temperature: float | None = None,
) -> str:
    """The content of a structured-output answer: JSON for ``schema``, or any object if None.

    Without a schema (``response_format: json_object``) the object carries the plain answer in
    the system prompt's style, so the text is still useful to look at.
    """
    rng = choice_rng(messages, seed, index, model=model, temperature=temperature, purpose="json")
    user_text = last_user_text(messages)
    if schema is None:
        style = classify_style(system_prompt_of(messages))
        value: Any = {"response_mode": style, "answer": compose_text(style, rng, user_text)}
    else:
        value = generate_json_value(schema, rng, words=keywords(user_text))
    return json.dumps(value, ensure_ascii=False)
