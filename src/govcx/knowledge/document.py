"""Knowledge documents and the readers of the file formats they come in.

A knowledge folder holds:

- ``.md`` / ``.markdown``: YAML front matter between ``---`` lines with ``id``, ``title``,
  ``version``, ``status`` (approved | draft | retired), ``tags``, ``locale``,
  ``effective_from``, ``effective_until``, ``related`` and a free ``metadata`` mapping;
  unknown keys are refused, so a typo such as ``stauts: draft`` can never publish a draft.
  ``related`` names the documents an agent needs with this one (``[id, ...]``, or
  ``{id: weight}`` with weights in (0, 1]): a search that ranks this document high lifts
  them too (see :meth:`KnowledgeBase.search_documents`).
- ``.txt``: plain text; the id is the file's path without suffix, the title its first line.
- ``.html`` / ``.htm``: headings and paragraphs are kept, scripts and styles dropped;
  ``<meta name="id|version|status|tags|related|locale|effective_from|effective_until">`` work as
  front matter.
- ``.json``: an object or a list of objects; ``.jsonl``: one object per line. Each object has
  ``id``, ``title`` and ``content`` (Markdown or text) and may have the front-matter keys;
  other keys are kept as metadata (exports from other systems carry many).

A document without ``version`` gets a content-derived one (``sha-<hash>``), so any change
makes a new version. An explicit version pins the text: the same (id, version) with other
content is refused, because citations already given for it must stay true.

Example:
    >>> docs = read_file(Path("kb/refunds.md"), Path("kb"))
    >>> docs[0].doc_id, docs[0].version, docs[0].status
    ('refunds', '3', 'approved')
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from govcx.errors import DocumentError

Status = Literal["approved", "draft", "retired"]
SUFFIXES: frozenset[str] = frozenset(
    {".md", ".markdown", ".txt", ".html", ".htm", ".json", ".jsonl"}
)
"""File suffixes an ingest reads; other files are ignored."""

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_ID = re.compile(r"^[^\s@#][^@#]{0,199}$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
NO_START = float("-inf")
NO_END = float("inf")


@dataclass(frozen=True, kw_only=True)
class Document:
    """One version of one knowledge article, as read from a file."""

    doc_id: str
    title: str
    body: str
    """The text in Markdown-like form: headings as ``#`` lines."""
    version: str
    status: Status
    tags: tuple[str, ...] = ()
    related: Mapping[str, float] = field(default_factory=dict)
    """Documents needed with this one, by id, with a weight in (0, 1]."""
    locale: str | None = None
    effective_from: datetime | None = None
    """First moment the article is in effect (UTC); None: always was."""
    effective_until: datetime | None = None
    """First moment it is no longer in effect (UTC); None: open-ended."""
    source: str = ""
    """Path of the file relative to the ingested folder."""
    version_declared: bool = True
    """False when the version was derived from the content."""
    status_declared: bool = True
    """False when the file declares no status (it took the default, ``draft``)."""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def content_hash(self) -> str:
        """Hash of what a citation of (doc_id, version) vouches for: title and text."""
        return _sha(self.title + "\n\x00" + self.body)

    @cached_property
    def meta_hash(self) -> str:
        """Hash of the governance fields, which may change within one version."""
        return _sha(
            json.dumps(
                [
                    self.status,
                    list(self.tags),
                    *([dict(sorted(self.related.items()))] if self.related else []),
                    self.locale,
                    _iso(self.effective_from),
                    _iso(self.effective_until),
                    dict(self.metadata),
                ],
                sort_keys=True,
                default=str,
            )
        )

    def in_effect(self, now: datetime) -> bool:
        """Whether ``now`` lies in [effective_from, effective_until)."""
        stamp = now.timestamp()
        return effective_start(self) <= stamp < effective_end(self)


def effective_start(doc: Document) -> float:
    return doc.effective_from.timestamp() if doc.effective_from else NO_START


def effective_end(doc: Document) -> float:
    return doc.effective_until.timestamp() if doc.effective_until else NO_END


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class _Fields(BaseModel):
    """Front-matter keys shared by every format."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    title: str | None = None
    version: str | None = None
    status: Status | None = None
    tags: list[str] = Field(default_factory=list)
    related: dict[str, float] = Field(default_factory=dict)
    locale: str | None = None
    effective_from: datetime | None = None
    effective_until: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", "title", "locale", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value).strip() if isinstance(value, int | float) else value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not _VERSION.match(text):
            raise ValueError(
                f"{text!r} is not a version: use letters, digits and . _ + - (like 3 or 2026.1)"
            )
        return text

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        if isinstance(value, list):
            return [str(t).strip() for t in value if str(t).strip()]
        return value

    @field_validator("related", mode="before")
    @classmethod
    def _related(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            if not all(isinstance(t, str | int) for t in value):
                raise ValueError("must be a list of document ids, or a mapping of id to weight")
            return {str(t).strip(): 1.0 for t in value if str(t).strip()}
        if not isinstance(value, dict):
            raise ValueError("must be a list of document ids, or a mapping of id to weight")
        return {str(k).strip(): v for k, v in value.items()}

    @field_validator("related")
    @classmethod
    def _related_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for doc_id, weight in value.items():
            if not doc_id or not _ID.match(doc_id):
                raise ValueError(f"{doc_id!r} is not a document id (no '@' or '#')")
            if not 0.0 < weight <= 1.0:
                raise ValueError(f"the weight of {doc_id!r} must be within (0, 1], not {weight}")
        return value

    @field_validator("effective_from", "effective_until", mode="before")
    @classmethod
    def _moment(cls, value: Any) -> Any:
        return _moment(value)


class _Record(_Fields):
    """A JSON object: the front-matter keys plus the text; other keys become metadata."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    content: str


def _moment(value: Any) -> datetime | None:
    """Dates mean midnight UTC; naive datetimes are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                date.fromisoformat(text)
                if len(text) == 10
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date; use YYYY-MM-DD or an ISO 8601 date-time"
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"{value!r} is not a date; use YYYY-MM-DD")


def _until(value: datetime | None, raw: Any) -> datetime | None:
    """A date-only ``effective_until`` includes that whole day."""
    if value is None:
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return value + timedelta(days=1)
    if isinstance(raw, str) and len(raw.strip()) == 10:
        return value + timedelta(days=1)
    return value


# -- discovery and reading ---------------------------------------------------------------
def discover(root: Path) -> list[Path]:
    """Knowledge files under ``root``, sorted; hidden files and folders and names starting
    with ``_`` are skipped."""
    found: list[Path] = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(path)
    return sorted(found)


def read_bytes(path: Path, *, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty and oversized files."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read: {exc.strerror}") from None
    if size > max_bytes:
        raise DocumentError(
            str(path),
            f"file is {size / 1_048_576:.1f} MB; the limit is "
            f"{max_bytes / 1_048_576:.1f} MB (split it into several articles)",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read: {exc.strerror}") from None
    if not data.strip():
        raise DocumentError(str(path), "file is empty")
    return data


def parse(
    data: bytes, path: Path, root: Path, *, default_status: Status = "draft"
) -> list[Document]:
    """Documents in one file's bytes; raises :class:`DocumentError` naming the file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            str(path),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at "
            f"offset {exc.start}); save the file as UTF-8",
        ) from None
    text = text.replace("\r\n", "\n")
    if "\x00" in text:
        raise DocumentError(str(path), "contains NUL bytes; is it a binary file?")
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    stem = rel.rsplit(".", 1)[0]
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        docs = [_markdown(text, path, rel, stem, default_status)]
    elif suffix == ".txt" and text.startswith("---\n"):
        # Front matter works in plain text as in Markdown (a .txt can declare its status).
        docs = [_markdown(text, path, rel, stem, default_status)]
    elif suffix == ".txt":
        docs = [_plain(text, path, rel, stem, default_status)]
    elif suffix in (".html", ".htm"):
        docs = [_html(text, path, rel, stem, default_status)]
    elif suffix == ".json":
        docs = list(_json(text, path, rel, default_status))
    elif suffix == ".jsonl":
        docs = list(_jsonl(text, path, rel, default_status))
    else:
        raise DocumentError(
            str(path),
            f"unsupported file type {suffix!r}; use one of " + ", ".join(sorted(SUFFIXES)),
        )
    if not docs:
        raise DocumentError(str(path), "contains no documents")
    seen: dict[str, Document] = {}
    for doc in docs:
        other = seen.get(doc.doc_id)
        if other is not None and other.content_hash != doc.content_hash:
            raise DocumentError(
                str(path), f"id {doc.doc_id!r} appears twice with different content"
            )
        seen[doc.doc_id] = doc
    return list(seen.values())


def read_file(
    path: Path, root: Path, *, max_bytes: int = 5 * 1024 * 1024, default_status: Status = "draft"
) -> list[Document]:
    """Read and parse one knowledge file."""
    return parse(read_bytes(path, max_bytes=max_bytes), path, root, default_status=default_status)


def _build(
    fields: _Fields,
    *,
    path: Path,
    where: str,
    body: str,
    title: str | None,
    doc_id: str | None,
    rel: str,
    default_status: Status,
    raw_until: Any,
    extra: Mapping[str, Any] | None = None,
) -> Document:
    doc_id = (fields.id or doc_id or "").strip()
    if not doc_id or not _ID.match(doc_id):
        raise DocumentError(
            str(path),
            f"{where}id {doc_id!r} is not valid: it must be non-empty and contain no '@' or '#'",
            field="id",
        )
    body = body.strip()
    if not body:
        raise DocumentError(str(path), f"{where}document {doc_id!r} has no text")
    title = (fields.title or title or doc_id).strip()
    version = fields.version
    declared = version is not None
    if version is None:
        version = "sha-" + _sha(title + "\n\x00" + body)[:12]
    start = fields.effective_from
    end = _until(fields.effective_until, raw_until)
    if start and end and end <= start:
        raise DocumentError(
            str(path),
            f"{where}effective_until is not after effective_from",
            field="effective_until",
        )
    metadata = dict(fields.metadata)
    metadata.update(extra or {})
    return Document(
        doc_id=doc_id,
        title=title,
        body=body,
        version=version,
        status=fields.status or default_status,
        tags=tuple(fields.tags),
        related={k: v for k, v in fields.related.items() if k != doc_id},
        locale=fields.locale or None,
        effective_from=start,
        effective_until=end,
        source=rel,
        version_declared=declared,
        status_declared=fields.status is not None,
        metadata=metadata,
    )


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        valid = ", ".join(f for f in _Fields.model_fields)
        return f"unknown key {loc!r} (valid keys: {valid}; put other data under metadata:)"
    if err["type"] == "missing":
        return f"missing {loc!r}"
    return f"{loc}: {str(err['msg']).removeprefix('Value error, ')}"


def _markdown(text: str, path: Path, rel: str, stem: str, default_status: Status) -> Document:
    raw: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
        match = _FRONT_MATTER.match(text)
        if not match:
            raise DocumentError(
                str(path), "front matter starts with --- but has no closing --- line"
            )
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 2}: " if mark else ""
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise DocumentError(str(path), f"front matter: {where}{problem}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise DocumentError(
                str(path),
                "front matter must be a YAML mapping of keys (id, title, version, status, ...)",
            )
        raw = loaded
        body = text[match.end() :]
    try:
        fields = _Fields.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(str(path), "front matter: " + _validation_message(exc)) from None
    heading = re.search(r"^#[ \t]+(.+?)[ \t#]*$", body, re.MULTILINE)
    return _build(
        fields,
        path=path,
        where="",
        body=body,
        title=heading.group(1) if heading else _humanize(stem),
        doc_id=stem,
        rel=rel,
        default_status=default_status,
        raw_until=raw.get("effective_until"),
    )


def _plain(text: str, path: Path, rel: str, stem: str, default_status: Status) -> Document:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first if 0 < len(first) <= 120 else _humanize(stem)
    return _build(
        _Fields(),
        path=path,
        where="",
        body=text,
        title=title,
        doc_id=stem,
        rel=rel,
        default_status=default_status,
        raw_until=None,
    )


def _humanize(stem: str) -> str:
    name = stem.rsplit("/", 1)[-1].replace("_", " ").replace("-", " ").strip()
    return name[:1].upper() + name[1:]


def _json(text: str, path: Path, rel: str, default_status: Status) -> Iterator[Document]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            str(path), f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        where = f"item {index}: " if isinstance(data, list) else ""
        yield _record(item, path, rel, where, default_status)


def _jsonl(text: str, path: Path, rel: str, default_status: Status) -> Iterator[Document]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                str(path), f"line {number}: not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        yield _record(item, path, rel, f"line {number}: ", default_status)


def _record(item: Any, path: Path, rel: str, where: str, default_status: Status) -> Document:
    if not isinstance(item, dict):
        raise DocumentError(str(path), f"{where}expected an object with id, title and content")
    try:
        record = _Record.model_validate(item)
    except ValidationError as exc:
        raise DocumentError(str(path), where + _validation_message(exc)) from None
    extra = {
        k: v
        for k, v in (record.model_extra or {}).items()
        if isinstance(v, str | int | float | bool)
    }
    return _build(
        record,
        path=path,
        where=where,
        body=record.content,
        title=record.title,
        doc_id=record.id,
        rel=rel,
        default_status=default_status,
        raw_until=item.get("effective_until"),
        extra=extra,
    )


# -- HTML --------------------------------------------------------------------------------
_BLOCK = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "br",
        "li",
        "tr",
        "table",
        "ul",
        "ol",
        "blockquote",
        "pre",
        "dd",
        "dt",
        "header",
        "footer",
        "main",
        "nav",
    }
)
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_META_KEYS = frozenset(
    {"id", "version", "status", "tags", "related", "locale", "effective_from", "effective_until"}
)


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.meta: dict[str, str] = {}
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            name = (values.get("name") or "").lower().removeprefix("govcx:")
            if name in _META_KEYS and values.get("content") is not None:
                self.meta[name] = str(values["content"])
        elif tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html(text: str, path: Path, rel: str, stem: str, default_status: Status) -> Document:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    raw: dict[str, Any] = dict(parser.meta)
    try:
        fields = _Fields.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(str(path), "meta tags: " + _validation_message(exc)) from None
    heading = re.search(r"^#[ \t]+(.+)$", body, re.MULTILINE)
    title = parser.title.strip() or (heading.group(1).strip() if heading else _humanize(stem))
    return _build(
        fields,
        path=path,
        where="",
        body=body,
        title=title,
        doc_id=stem,
        rel=rel,
        default_status=default_status,
        raw_until=raw.get("effective_until"),
    )
