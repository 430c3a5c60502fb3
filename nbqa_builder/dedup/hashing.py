"""Code tokens and their 32-bit hashes, computed vectorised over many documents at once.

MinHash spends its time hashing shingles. Here every token is hashed once with xxh32 (seed 0),
in numpy, and an n-gram's hash is a polynomial of its token hashes (`combine_token_hashes`).
`shingle_hash32` computes the same value for one shingle in plain Python, so it can be handed to
`datasketch.MinHash(hashfunc=...)`: the vectorised and the datasketch signatures are equal.

A token is a run of word bytes (ASCII letters, digits, `_`, and any non-ASCII byte, so that
non-ASCII identifiers stay whole) or one other non-space byte (operators, brackets, quotes).
`x=1` and `x = 1` are then the same three tokens. A shingle is its tokens joined by b"\\n", a
byte no token contains.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import xxhash

TOKEN_RE = re.compile(rb"[A-Za-z0-9_\x80-\xff]+|[^A-Za-z0-9_\x80-\xff \t\n\r\f\v]")
SHINGLE_SEP = b"\n"
# Odd multiplier (the 32-bit FNV prime): an n-gram hash is sum(token_hash[i] * M**(n-1-i)) mod 2**32,
# so a change of any one token changes the n-gram hash (odd M is invertible mod 2**32).
NGRAM_MULTIPLIER = 0x01000193

_U32 = np.uint32
_P1, _P2, _P3, _P4, _P5 = (_U32(p) for p in (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1))
# Tokens this long or longer take xxh32's striped path; they are rare in code, so they are
# hashed one by one with the xxhash library instead of vectorised.
_STRIPE = 16

# Byte classes: 0 whitespace, 1 word byte, 2 single-byte token.
_BYTE_CLASS = np.full(256, 2, dtype=np.uint8)
for _b in b" \t\n\r\f\v":
    _BYTE_CLASS[_b] = 0
for _b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_" + bytes(range(0x80, 0x100)):
    _BYTE_CLASS[_b] = 1


def tokens(code: bytes) -> list[bytes]:
    """The tokens of UTF-8 code, in order (the reference the vectorised tokenizer must match)."""
    return TOKEN_RE.findall(code)


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit hash of one shingle: xxh32 of each token, combined as a polynomial.

    Give this to `datasketch.MinHash(hashfunc=shingle_hash32, scheme="affine32")` to reproduce our
    signatures with datasketch.
    """
    h = 0
    for token in shingle.split(SHINGLE_SEP):
        h = (h * NGRAM_MULTIPLIER + xxhash.xxh32_intdigest(token)) & 0xFFFFFFFF
    return h


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def _byte_windows(buf: np.ndarray) -> np.ndarray:
    """window[p] = bytes p..p+3 of buf as a little-endian uint32 (zero-padded past the end)."""
    padded = np.concatenate((buf, np.zeros(4, dtype=np.uint8)))
    window = np.empty(len(buf), dtype=_U32)
    for k in range(4):
        window[k::4] = np.frombuffer(padded.data, dtype="<u4", count=(len(buf) - k + 3) // 4, offset=k)
    return window


def _xxh32_fixed_length(buf: np.ndarray, window: np.ndarray, at: np.ndarray, length: int) -> np.ndarray:
    """xxh32 (seed 0) of the spans buf[a:a+length] for a in `at`, for length < 16 (no stripes)."""
    h = np.full(len(at), _P5 + _U32(length), dtype=_U32)
    with np.errstate(over="ignore"):
        for k in range(length // 4):
            h += np.take(window, at + 4 * k) * _P3
            h = _rotl(h, 17) * _P4
        for j in range(length // 4 * 4, length):
            h += np.take(buf, at + j).astype(_U32) * _P5
            h = _rotl(h, 11) * _P1
        h ^= h >> _U32(15)
        h *= _P2
        h ^= h >> _U32(13)
        h *= _P3
        h ^= h >> _U32(16)
    return h


@functools.cache
def _two_byte_table() -> np.ndarray:
    """xxh32 of every 2-byte string, indexed by its little-endian value: one lookup per such token."""
    pairs = np.arange(1 << 16, dtype="<u2").view(np.uint8)
    return _xxh32_fixed_length(pairs, _byte_windows(pairs), np.arange(0, len(pairs), 2), 2)


@functools.cache
def _one_byte_table() -> np.ndarray:
    """xxh32 of every 1-byte string: operators and brackets are about half of all code tokens."""
    single = np.arange(256, dtype=np.uint8)
    return _xxh32_fixed_length(single, _byte_windows(single), np.arange(256), 1)


def xxh32_spans(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """xxh32 (seed 0) of the byte spans buf[s:s+l], vectorised; equal to xxhash.xxh32_intdigest.

    Spans are grouped by length, so each group runs xxh32's short-input path with no masking;
    1- and 2-byte spans are table lookups.
    """
    out = np.empty(len(starts), dtype=_U32)
    window = _byte_windows(buf)
    length_class = np.minimum(lengths, _STRIPE).astype(np.uint8)  # _STRIPE stands for "long"
    by_length = np.argsort(length_class, kind="stable")
    bounds = np.searchsorted(length_class[by_length], np.arange(1, _STRIPE + 1))
    for length in range(1, _STRIPE):
        idx = by_length[bounds[length - 1] : bounds[length]]
        if not len(idx):
            continue
        at = np.take(starts, idx)
        if length == 1:
            out[idx] = np.take(_one_byte_table(), np.take(buf, at))
        elif length == 2:
            out[idx] = np.take(_two_byte_table(), np.take(window, at) & _U32(0xFFFF))
        else:
            out[idx] = _xxh32_fixed_length(buf, window, at, length)
    raw = buf.data
    for i in by_length[bounds[_STRIPE - 1] :].tolist():
        out[i] = xxhash.xxh32_intdigest(raw[starts[i] : starts[i] + lengths[i]])
    return out


def token_hashes(docs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """xxh32 of every token of every document, in order, and the document index of each token.

    Equal to `[xxh32(t) for d in docs for t in tokens(d)]`, without a Python call per token.
    """
    joined = SHINGLE_SEP.join(docs)  # the separator is whitespace: no token crosses documents
    buf = np.frombuffer(joined, dtype=np.uint8)
    cls = np.take(_BYTE_CLASS, buf)  # np.take: about twice as fast as fancy indexing here
    word = cls == 1
    single = cls == 2
    before_is_word = np.concatenate(([False], word[:-1]))
    after_is_word = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero(single | (word & ~before_is_word))
    ends = np.flatnonzero(single | (word & ~after_is_word))  # one end per start, in the same order
    assert len(starts) == len(ends), "token starts and ends must pair up"
    hashes = xxh32_spans(buf, starts, ends - starts + 1)
    doc_ends = np.cumsum([len(d) + 1 for d in docs])  # offset just past each document's separator
    tokens_per_doc = np.diff(np.searchsorted(starts, doc_ends), prepend=0)
    return hashes, np.repeat(np.arange(len(docs)), tokens_per_doc)


def combine_token_hashes(unit_hashes: np.ndarray, doc_of_unit: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every n-gram of consecutive units within one document, and its document.

    Equal to `shingle_hash32` of each shingle; documents with fewer than `ngram` units get none.
    """
    count = len(unit_hashes) - ngram + 1
    if count <= 0:
        return np.empty(0, dtype=_U32), np.empty(0, dtype=np.int64)
    acc = unit_hashes[:count].copy()
    with np.errstate(over="ignore"):
        for i in range(1, ngram):
            acc *= _U32(NGRAM_MULTIPLIER)
            acc += unit_hashes[i : i + count]
    within_one_doc = doc_of_unit[:count] == doc_of_unit[ngram - 1 :]
    return acc[within_one_doc], doc_of_unit[:count][within_one_doc]
