"""Find and redact credentials in text and data files before anything is published.

Two layers, each a list of (kind, compiled pattern):
- our own patterns for the credentials that most often leak from notebooks (AWS key pairs, GitHub,
  GitLab, OpenAI, Anthropic and Hugging Face tokens, Slack, Google API keys, Stripe, private key blocks,
  passwords in URLs and `password = "..."` assignments). They are always on, so the offline demo
  and a core install redact too.
- detect-secrets' regex plugins (extra `hub`), for the long tail of vendors. Only its regex
  detectors are used, not its entropy or keyword plugins: those flag hashes, ids and base64 cells
  that fill real data files, and redacting them would change answers for nothing.

A finding is replaced by `<REDACTED:kind>`; counts per kind come back so the caller can put them in
stats.json.
"""

from __future__ import annotations

import bisect
import functools
import math
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable

PLACEHOLDER = "<REDACTED:{kind}>"

_AWS_KEY_ID = r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"
# (kind, pattern); when a pattern has a group named "secret", only that group is replaced
OWN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)")),
    ("aws_access_key_id", re.compile(rf"\b{_AWS_KEY_ID}\b")),
    # a 40-character secret next to an AWS word, or on the same line as an access key id
    ("aws_secret_access_key", re.compile(
        r"(?i)aws.{0,25}?(?:secret|private|key).{0,25}?[\s'\":=,]+(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")),
    ("aws_secret_access_key", re.compile(
        rf"{_AWS_KEY_ID}[^\n]{{0,200}}?(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    # GitLab personal, project and group access tokens (detect-secrets' plugin reports only the
    # "glpat" prefix, which is too short to count as a finding)
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}")),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{34,40}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_live_[0-9A-Za-z]{20,}")),
    ("url_password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<secret>[^\s@/'\"]{3,})@")),
    # `password = "..."` and friends in code; the value must look random enough to be a secret
    ("assigned_secret", re.compile(
        r"(?i)\b[\w.]*(?:password|passwd|secret|api_?key|access_?token|auth_?token)\w*['\"]?\s*[:=]\s*"
        r"(?P<quote>['\"])(?P<secret>[^'\"\s<>]{8,})(?P=quote)")),
]

# Lower-case words that each own pattern's matches contain: a pattern runs only over a text that
# holds one of them, which skips nearly all of them on nearly all texts (most cells hold no secret).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "private_key": ("private key",),
    "aws_access_key_id": ("akia", "asia", "abia", "acca", "a3t"),
    "aws_secret_access_key": ("aws", "akia", "asia", "abia", "acca", "a3t"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("glpat-",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "huggingface_token": ("hf_",),
    "slack_token": ("xox",),
    "slack_webhook": ("hooks.slack.com",),
    "google_api_key": ("aiza",),
    "stripe_key": ("_live_",),
    "url_password": ("://",),
    "assigned_secret": ("pass", "secret", "key", "token"),
}


def _needle_kinds() -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    """One pattern that finds any needle, and for each needle the kinds it switches on.

    The pattern is the needles longest first, so at a position where several needles begin the
    longest is matched; the others beginning there are its prefixes ("sk-" of "sk-ant-"), so a
    needle switches on its own kinds and those of every needle it starts with.
    """
    needles = sorted({needle for group in _NEEDLES.values() for needle in group}, key=lambda n: (-len(n), n))
    kinds = {needle: frozenset(kind for kind, group in _NEEDLES.items()
                               if any(needle.startswith(other) for other in group))
             for needle in needles}
    return re.compile("|".join(map(re.escape, needles))), kinds


_ANY_NEEDLE, _KINDS_OF_NEEDLE = _needle_kinds()


def _kinds_to_run(lower: str) -> set[str]:
    """The own patterns' kinds that have a needle in `lower` (the text in lower case).

    The same as testing `needle in lower` for every needle of every kind, in one C-level scan
    instead of ~30 Python-level ones: after each match the search resumes one character after its
    start, so needles that overlap or lie inside another ("key" in "private key") are all seen.
    The search runs over `lower`, not over the text with re.IGNORECASE: the two differ on a few
    Unicode letters (re's case folding matches the long s "ſ" for "s", which lowering leaves
    alone), and the kinds run must stay exactly those of `needle in text.lower()`.
    """
    kinds: set[str] = set()
    search = _ANY_NEEDLE.search
    match = search(lower)
    while match:
        kinds |= _KINDS_OF_NEEDLE[match.group()]
        match = search(lower, match.start() + 1)
    return kinds


# detect-secrets' detectors all look for a long run of token characters
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.]{20,}")

# detect-secrets regex detectors worth running (module, class, our kind)
DETECT_SECRETS_PLUGINS = [
    ("artifactory", "ArtifactoryDetector", "artifactory_token"),
    ("azure_storage_key", "AzureStorageKeyDetector", "azure_storage_key"),
    ("discord", "DiscordBotTokenDetector", "discord_token"),
    ("github_token", "GitHubTokenDetector", "github_token"),
    ("gitlab_token", "GitLabTokenDetector", "gitlab_token"),
    ("jwt", "JwtTokenDetector", "jwt"),
    ("mailchimp", "MailchimpDetector", "mailchimp_key"),
    ("npm", "NpmDetector", "npm_token"),
    ("openai", "OpenAIDetector", "openai_key"),
    ("pypi_token", "PypiTokenDetector", "pypi_token"),
    ("sendgrid", "SendGridDetector", "sendgrid_key"),
    ("slack", "SlackDetector", "slack_token"),
    ("square_oauth", "SquareOAuthDetector", "square_oauth"),
    ("stripe", "StripeDetector", "stripe_key"),
    ("telegram_token", "TelegramBotTokenDetector", "telegram_token"),
    ("twilio", "TwilioKeyDetector", "twilio_key"),
]

# values of `password = "..."` that are examples, not secrets
_PLACEHOLDER_VALUES = re.compile(r"(?i)^(?:x+|\*+|\.+|changeme|password|secret|your[_-].*|<.*>|\{.*\}|\$\{.*\}|none|null|example.*)$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


@functools.cache
def detect_secrets_detectors() -> tuple[tuple[str, Callable[[str], Iterable[str]]], ...]:
    """(kind, analyze_string) of detect-secrets' regex plugins; empty when it is not installed."""
    import importlib

    try:
        importlib.import_module("detect_secrets.plugins.base")
    except ImportError:
        return ()
    detectors = []
    for module, name, kind in DETECT_SECRETS_PLUGINS:
        try:
            plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)()
        except (ImportError, AttributeError):  # a plugin renamed in another version
            continue
        detectors.append((kind, plugin.analyze_string))
    return tuple(detectors)


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every credential found, not overlapping, in order."""
    spans: list[tuple[int, int, str]] = []
    kinds = _kinds_to_run(text.lower())
    for kind, pattern in OWN_PATTERNS:
        if kind not in kinds:
            continue
        for match in pattern.finditer(text):
            group = "secret" if "secret" in pattern.groupindex else 0
            start, end = match.span(group)
            if kind == "assigned_secret":
                value = match.group("secret")
                if _PLACEHOLDER_VALUES.match(value) or _entropy(value) < 3.0 or value.startswith("<REDACTED:"):
                    continue
            spans.append((start, end, kind))
    for kind, analyze in detect_secrets_detectors() if _LONG_TOKEN.search(text) else ():
        for secret in set(analyze(text)):
            if len(secret) < 8:  # a partial group of a plugin's pattern, not a credential
                continue
            for match in re.finditer(re.escape(secret), text):
                spans.append((match.start(), match.end(), kind))
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:  # overlaps the previous finding: widen it
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], end), previous[2])
        else:
            merged.append((start, end, kind))
    return merged


def redact_text(text: str) -> tuple[str, Counter[str]]:
    """The text with every finding replaced by `<REDACTED:kind>`, and the counts per kind."""
    found: Counter[str] = Counter()
    if not text:
        return text, found
    pieces, last = [], 0
    for start, end, kind in find_secrets(text):
        pieces += [text[last:start], PLACEHOLDER.format(kind=kind)]
        last = end
        found[kind] += 1
    if not found:
        return text, found
    pieces.append(text[last:])
    return "".join(pieces), found


def redact_bytes(content: bytes) -> tuple[bytes, Counter[str]]:
    """`redact_text` over a file's bytes: UTF-8 when it decodes, else byte for byte (latin-1)."""
    try:
        text, encoding = content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = content.decode("latin-1"), "latin-1"
    redacted, found = redact_text(text)
    return (redacted.encode(encoding) if found else content), found


# file names that hold credentials, never data (compared in lower case)
CREDENTIAL_NAMES = re.compile(
    r"^(?:\.env(?:\..+)?|.*\.pem|.*\.key|.*\.p12|.*\.pfx|.*\.keystore|id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?|"
    r"\.netrc|\.pgpass|\.npmrc|\.pypirc|\.git-credentials|credentials(?:\.json|\.ya?ml|\.csv)?|"
    r"client_secrets?.*\.json|service[_-]?account.*\.json|secrets?\.(?:json|ya?ml|toml|env)|.*token\.(?:json|txt)|"
    r"accesskeys\.csv|.*_accesskeys\.csv)$"
)
CREDENTIAL_SCAN_BYTES = 1_000_000  # credential files are small; larger files are data


def credential_file_reason(path: str, content: bytes) -> str | None:
    """Why a file is a credential file rather than data (None when it is data).

    By name (`.env`, `credentials.json`, `id_rsa`, `*.pem` ...), or by content: a small file whose
    non-blank lines are mostly credentials.
    """
    name = posixpath.basename(path.replace("\\", "/")).lower()
    if CREDENTIAL_NAMES.match(name):
        return f"credential_file:{name}"
    if len(content) > CREDENTIAL_SCAN_BYTES:
        return None
    text = content.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    spans = find_secrets(text)
    if not spans:
        return None
    covered = sum(end - start for start, end, _ in spans)
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    secret_lines = {bisect.bisect_right(line_starts, start) - 1 for start, _, _ in spans}
    if len(secret_lines) * 2 >= len(lines) or covered * 3 >= len(text.strip()):
        return f"credential_file:{name}"
    return None
