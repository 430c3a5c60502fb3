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
import zlib
from collections import Counter
from collections.abc import Callable, Iterable

PLACEHOLDER = "<REDACTED:{kind}>"

_AWS_KEY_ID = r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"
# the word that makes a name one of a key, token or secret (`HMAC_KEY = "..."`, `"signing_key": ...`);
# matches start at it (a pattern that first took the whole name backtracked on every word)
_KEY_WORD = r"(?:key|token|secret|signing|fernet|salt|credential|passw(?:or)?d|pwd)\w*"
# (kind, pattern); when a pattern has a group named "secret", only that group is replaced, so that
# code stays code: a string literal stays a string literal, `AccountKey=...` keeps its `=`
OWN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)")),
    # header, payload and signature: all three parts are the token
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("aws_access_key_id", re.compile(rf"\b{_AWS_KEY_ID}\b")),
    # a 40-character secret next to an AWS word, or on the same line as an access key id
    ("aws_secret_access_key", re.compile(
        r"(?i)aws.{0,25}?(?:secret|private|key).{0,25}?[\s'\":=,]+(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")),
    ("aws_secret_access_key", re.compile(
        rf"{_AWS_KEY_ID}[^\n]{{0,200}}?(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])")),
    # Azure storage: the account key of a connection string or a parsed one, and a bare key (64
    # random bytes in base64: 86 characters and "==")
    ("azure_storage_key", re.compile(
        r"(?i)account_?key['\"]?\s*[=:]\s*['\"]?(?P<secret>[A-Za-z0-9+/]{86}==)")),
    ("azure_storage_key", re.compile(r"(?<![A-Za-z0-9+/=])(?P<secret>[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    # GitHub's token format (also npm's, and others'): a prefix, 30 random characters and a CRC32
    # checksum of them in 6 base62 digits; a valid checksum proves a token whatever its prefix
    ("checksummed_token", re.compile(r"\b[a-z]{2,5}_(?P<body>[A-Za-z0-9]{30})(?P<check>[A-Za-z0-9]{6})\b")),
    # GitLab personal, project and group access tokens (detect-secrets' plugin reports only the
    # "glpat" prefix, which is too short to count as a finding)
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}")),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{34,40}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}")),
    ("url_password", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<secret>[^\s@/'\"]{3,})@")),
    # `password = "..."`, `HMAC_KEY = b"..."`, `{"signing_key": "..."}`: the value must look random
    # (see _accepted), so `primary_key = "customer_id"` is left alone
    ("assigned_secret", re.compile(
        rf"(?i){_KEY_WORD}['\"]?\s*[:=]\s*[bru]?(?P<quote>['\"])(?P<secret>[^'\"\s<>]{{8,}})(?P=quote)")),
    # the same in .env and config files: `FERNET_KEY=...` on a line of its own
    ("assigned_secret", re.compile(
        rf"(?im)^[ \t]*(?:export[ \t]+)?[\w.]*?{_KEY_WORD}[ \t]*=[ \t]*(?P<secret>[A-Za-z0-9+/=_.~-]{{16,}})[ \t]*\r?$")),
]

# The case-insensitive patterns, as case-sensitive ones run over the lower-case text: their words
# are lower case and their classes hold both cases, so they match the same places, and Python's
# `re` searches ten times faster without IGNORECASE.
_CASELESS: dict[re.Pattern[str], re.Pattern[str]] = {
    pattern: re.compile(pattern.pattern.replace("(?i)", "").replace("(?im)", "(?m)"))
    for _, pattern in OWN_PATTERNS if pattern.flags & re.IGNORECASE
}

# Lower-case words that each own pattern's matches contain: a pattern runs only over a text that
# holds one of them, which skips nearly all of them on nearly all texts (most cells hold no secret).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "private_key": ("private key",),
    "jwt": ("eyj",),
    "aws_access_key_id": ("akia", "asia", "abia", "acca", "a3t"),
    "aws_secret_access_key": ("aws", "akia", "asia", "abia", "acca", "a3t"),
    "azure_storage_key": ("==",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "checksummed_token": ("_",),
    "gitlab_token": ("glpat-",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "huggingface_token": ("hf_",),
    "slack_token": ("xox",),
    "slack_webhook": ("hooks.slack.com",),
    "google_api_key": ("aiza",),
    "stripe_key": ("_live_", "_test_"),
    "url_password": ("://",),
    "assigned_secret": ("pass", "secret", "key", "token", "signing", "fernet", "salt", "credential", "pwd"),
}


# needles found in most texts ("_" in any identifier, "key", "=="): tested with `in`, each once,
# rather than met again and again by the scan of the rare ones
COMMON_NEEDLES = frozenset({"_", "==", "://", "key", "token", "pass", "secret", "salt", "pwd", "aws"})


def _needle_kinds() -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    """One pattern that finds any rare needle, and for each needle the kinds it switches on.

    The pattern is the rare needles longest first, so at a position where several needles begin
    the longest is matched; the others beginning there are its prefixes ("sk-" of "sk-ant-"), so
    a needle switches on its own kinds and those of every needle it starts with.
    """
    every = {needle for group in _NEEDLES.values() for needle in group}
    kinds = {needle: frozenset(kind for kind, group in _NEEDLES.items()
                               if any(needle.startswith(other) for other in group))
             for needle in every}
    rare = sorted(every - COMMON_NEEDLES, key=lambda n: (-len(n), n))
    return re.compile("|".join(map(re.escape, rare))), kinds


_ANY_NEEDLE, _KINDS_OF_NEEDLE = _needle_kinds()


def _kinds_to_run(lower: str) -> set[str]:
    """The own patterns' kinds that have a needle in `lower` (the text in lower case).

    The same as testing `needle in lower` for every needle of every kind, in few scans: the common
    needles with `in`, the rare ones in one C-level scan that resumes one character after each
    match's start, so needles that overlap or lie inside another are all seen. The search runs
    over `lower`, not over the text with re.IGNORECASE: the two differ on a few Unicode letters
    (re's case folding matches the long s "ſ" for "s", which lowering leaves alone), and the kinds
    run must stay exactly those of `needle in text.lower()`.
    """
    kinds: set[str] = set()
    for needle in COMMON_NEEDLES:
        if needle in lower:
            kinds |= _KINDS_OF_NEEDLE[needle]
    search = _ANY_NEEDLE.search
    match = search(lower)
    while match:
        kinds |= _KINDS_OF_NEEDLE[match.group()]
        match = search(lower, match.start() + 1)
    return kinds


_NAMED_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*[=:]\s*")

# detect-secrets' detectors all look for a long run of token characters
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.]{20,}")

# detect-secrets regex detectors worth running (module, class, our kind): those whose vendors our
# own patterns do not cover (JWT, GitHub, GitLab, OpenAI, Slack, Stripe and Azure are ours)
DETECT_SECRETS_PLUGINS = [
    ("artifactory", "ArtifactoryDetector", "artifactory_token"),
    ("discord", "DiscordBotTokenDetector", "discord_token"),
    ("mailchimp", "MailchimpDetector", "mailchimp_key"),
    ("npm", "NpmDetector", "npm_token"),
    ("pypi_token", "PypiTokenDetector", "pypi_token"),
    ("sendgrid", "SendGridDetector", "sendgrid_key"),
    ("square_oauth", "SquareOAuthDetector", "square_oauth"),
    ("telegram_token", "TelegramBotTokenDetector", "telegram_token"),
    ("twilio", "TwilioKeyDetector", "twilio_key"),
]
# kinds whose findings may hold no run of 20 token characters; every other kind needs one, so a
# text without any runs only these
SHORT_KINDS = frozenset({"private_key", "url_password", "assigned_secret", "slack_token"})

# values of `password = "..."` that are examples, not secrets
_PLACEHOLDER_VALUES = re.compile(r"(?i)^(?:x+|\*+|\.+|changeme|password|secret|your[_-].*|<.*>|\{.*\}|\$\{.*\}|none|null|example.*)$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_RANDOM_TOKEN = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")


def checksum_ok(body: str, check: str) -> bool:
    """GitHub's token checksum: CRC32 of the 30 random characters, in 6 base62 digits."""
    value = zlib.crc32(body.encode())
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = _BASE62[digit] + digits
    return digits.rjust(6, "0") == check


def _looks_random(value: str) -> bool:
    """Hex of 16+ digits, or a token of letters and digits (and base64 punctuation) with high entropy."""
    if _HEX.match(value):
        return len(value) >= 16 and _entropy(value) >= 3.0
    return (bool(_RANDOM_TOKEN.match(value)) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and _entropy(value) >= 3.5)


def _accepted(kind: str, pattern: re.Pattern[str], match: re.Match[str], text: str) -> bool:
    """Whether a match of an own pattern in `text` is a credential (patterns that need a second
    look). The match may come from the lower-case text (see `_CASELESS`): values are read from
    `text` by position."""
    if kind == "checksummed_token":
        return checksum_ok(match.group("body"), match.group("check"))
    secret = "secret" in pattern.groupindex
    value = text[slice(*match.span("secret" if secret else 0))]
    if value.startswith("<REDACTED:"):
        return False
    if kind == "assigned_secret":
        if _PLACEHOLDER_VALUES.match(value):
            return False
        narrow = re.search(r"(?i)passw|pwd|secret", text[match.start(): match.start("secret")])
        return _entropy(value) >= 3.0 if narrow else _looks_random(value)
    if kind == "azure_storage_key":
        return _entropy(value) >= 4.5
    return True


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


def _lines_with_long_tokens(text: str, first: re.Match[str]) -> str:
    """The lines of `text` that hold a run of 20 token characters, joined (`first` is the first run)."""
    lines = []
    match: re.Match[str] | None = first
    while match is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end == -1 else end
        lines.append(text[start:end])
        match = _LONG_TOKEN.search(text, end)
    return "\n".join(lines)


# media embedded as base64 (`data:image/png;base64,...`, animation frames): pixels, not secrets,
# and most of what a large HTML output holds; they are blanked out before the search
_DATA_URI = re.compile(r"data:[\w/+.-]{1,64};base64,[A-Za-z0-9+/=\s\\]+")


def _without_media(text: str) -> str:
    """`text` with embedded base64 media replaced by spaces: same length, same positions."""
    if "base64," not in text:
        return text
    return _DATA_URI.sub(lambda match: " " * (match.end() - match.start()), text)


def find_secrets(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every credential found, not overlapping, in order."""
    spans: list[tuple[int, int, str]] = []
    text = _without_media(text)
    lower = text.lower()
    kinds = _kinds_to_run(lower)
    long_token = _LONG_TOKEN.search(text)
    if long_token is None:
        kinds &= SHORT_KINDS
    same_length = len(lower) == len(text)  # a few letters grow when lowered (İ): then no shortcut
    for kind, pattern in OWN_PATTERNS:
        if kind not in kinds:
            continue
        caseless = _CASELESS.get(pattern) if same_length else None
        for match in (caseless.finditer(lower) if caseless is not None else pattern.finditer(text)):
            if not _accepted(kind, pattern, match, text):
                continue
            group = "secret" if "secret" in pattern.groupindex else 0
            start, end = match.span(group)
            spans.append((start, end, kind))
    # detect-secrets' detectors, over the lines that hold a long token (their patterns are one-line)
    lines = _lines_with_long_tokens(text, long_token) if long_token is not None else ""
    for kind, analyze in detect_secrets_detectors() if lines else ():
        for secret in set(analyze(lines)):
            # some plugins report `AccountKey=<key>`: only the value is replaced, so that the
            # code that parses it still finds its `=`
            value = _NAMED_VALUE.sub("", secret)
            if len(value) < 8:  # a partial group of a plugin's pattern, not a credential
                continue
            for match in re.finditer(re.escape(value), text):
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
    spans = find_secrets(text) if text else []
    if not spans:
        return text, Counter()
    return _replace(text, spans)


# an output line that is nothing but a 40-character base64 token: an AWS secret access key printed alone
_ALONE_AWS_SECRET = re.compile(r"(?m)^[ \t]*['\"]?(?P<secret>[A-Za-z0-9/+]{40})['\"]?[ \t]*\r?$")


def redact_output(text: str) -> tuple[str, Counter[str]]:
    """`redact_text` for what a cell showed, where a secret may also stand alone: an AWS secret key
    has no mark of its own, but printed on a line by itself it is a random-looking 40-character
    token (in code or data such a token is most often an id or a hash, and is left alone)."""
    found: Counter[str] = Counter()

    def alone(match: re.Match[str]) -> str:
        value = match.group("secret")
        if (any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value)
                and _entropy(value) >= 4.2):
            found["aws_secret_access_key"] += 1
            start, end = match.span("secret")
            line = match.group()
            offset = match.start()
            return line[: start - offset] + PLACEHOLDER.format(kind="aws_secret_access_key") + line[end - offset:]
        return match.group()

    if text:
        text = _ALONE_AWS_SECRET.sub(alone, text)
    redacted, more = redact_text(text)
    return redacted, found + more


# the start of a token of a known format, cut before its end
_TOKEN_START = re.compile(
    r"(?:gh[pousr]_|github_pat_|glpat-|sk-ant-|sk-(?:proj-|svcacct-|admin-)?|hf_|xox[abposr]-|AIza|(?:sk|rk)_(?:live|test)_|"
    r"eyJ|AKIA|ASIA)[A-Za-z0-9_./+=-]{4,}$")


def cut_text(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, redacted whole before the cut and scanned again
    after it: the start of a token that the cut left too short for its full pattern is still a
    secret."""
    if len(text) <= limit:
        return redact_text(text)[0]
    redacted = redact_text(text)[0][:limit]
    tail = _TOKEN_START.search(redacted[-300:])
    if tail:
        redacted = redacted[: len(redacted) - len(tail.group())] + PLACEHOLDER.format(kind="cut_token")
    return redacted


def _decode(content: bytes) -> tuple[str, str]:
    """A file's text and its encoding: UTF-8 when it decodes, else byte for byte (latin-1)."""
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return content.decode("latin-1"), "latin-1"


def _replace(text: str, spans: list[tuple[int, int, str]]) -> tuple[str, Counter[str]]:
    """`text` with each span replaced by its placeholder, and the counts per kind."""
    found: Counter[str] = Counter()
    pieces, last = [], 0
    for start, end, kind in spans:
        pieces += [text[last:start], PLACEHOLDER.format(kind=kind)]
        last = end
        found[kind] += 1
    pieces.append(text[last:])
    return "".join(pieces), found


def redact_bytes(content: bytes) -> tuple[bytes, Counter[str]]:
    """`redact_text` over a file's bytes: UTF-8 when it decodes, else byte for byte (latin-1)."""
    text, encoding = _decode(content)
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
    reason = credential_name_reason(path)
    if reason or len(content) > CREDENTIAL_SCAN_BYTES:  # larger files are data, whatever they hold
        return reason
    return scan_data_file(path, content)[0]


def _file_name(path: str) -> str:
    return posixpath.basename(path.replace("\\", "/")).lower()


def credential_name_reason(path: str) -> str | None:
    """`credential_file:<name>` when the file's name alone says it holds credentials."""
    return f"credential_file:{_file_name(path)}" if CREDENTIAL_NAMES.match(_file_name(path)) else None


def scan_data_file(path: str, content: bytes) -> tuple[str | None, bytes, Counter[str]]:
    """One scan of a data file: why it is a credential file (None when it is data, as
    `credential_file_reason` says), its bytes redacted as `redact_bytes` does, and the counts per
    kind. The file's text is searched once for both."""
    reason = credential_name_reason(path)
    text, encoding = _decode(content)
    spans = find_secrets(text)
    if not spans:
        return reason, content, Counter()
    if reason is None and len(content) <= CREDENTIAL_SCAN_BYTES and _mostly_credentials(text, spans):
        reason = f"credential_file:{_file_name(path)}"
    redacted, found = _replace(text, spans)
    return reason, redacted.encode(encoding), found


def _mostly_credentials(text: str, spans: list[tuple[int, int, str]]) -> bool:
    """Whether half the non-blank lines hold a credential, or credentials are a third of the text."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    covered = sum(end - start for start, end, _ in spans)
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    secret_lines = {bisect.bisect_right(line_starts, start) - 1 for start, _, _ in spans}
    return len(secret_lines) * 2 >= len(lines) or covered * 3 >= len(text.strip())
