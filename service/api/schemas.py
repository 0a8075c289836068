"""Request and response bodies of the project API, with examples for the OpenAPI schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Role = Literal["viewer", "coder", "owner"]
Status = Literal["pending", "accepted", "rejected", "changed", "superseded"]
WHEN = "2026-03-02T10:15:00Z"
CODE = "npt.coherence.communal_specification"
# Ids are database INTEGER columns: PostgreSQL's hold up to 2**31 - 1. A larger id names nothing,
# and sent to the database it would fail there, so requests are refused (422) before that.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _utc(value: datetime) -> datetime:
    """SQLite gives back times without their zone; they are UTC (``utcnow``)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# an RFC 3339 date-time, always with its zone
Timestamp = Annotated[datetime, AfterValidator(_utc)]


def _no_nul(value):
    """No string in a request holds a NUL character: a database cannot store one (PostgreSQL
    refuses it), so it is refused here, naming the field (422)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain a NUL character (\\u0000)")
    elif isinstance(value, list | tuple):
        for item in value:
            _no_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    return value


class Input(BaseModel):
    """A request body: its strings are checked for NUL characters (422)."""

    @field_validator("*", mode="after")
    @classmethod
    def _strings_without_nul(cls, value):
        return _no_nul(value)


CodeId = Annotated[str, Field(min_length=1, max_length=200, examples=[CODE],
                              description="The code's id or its label (case and spacing "
                                          "ignored); the id is stored.")]


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProblemOut(BaseModel):
    """An error (RFC 9457 problem details), sent as ``application/problem+json``."""

    type: str = Field(examples=["urn:precode:problem:validation"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["1 invalid field(s) in the request"])
    instance: str = Field(examples=["/v1/projects"])
    errors: list[dict] | None = Field(default=None, examples=[[{
        "pointer": "#/name", "in": "body", "detail": "String should have at least 1 character",
        "code": "string_too_short"}]])


def _problem(description: str) -> dict:
    return {"model": ProblemOut, "description": description,
            "content": {"application/problem+json": {}}}


PROBLEM_RESPONSES = {
    400: _problem("A file that cannot be read (the error names file, line or field)"),
    401: _problem("No API token, or an unknown one"),
    403: _problem("Your role in the project does not allow this"),
    404: _problem("Not found, or not in a project you belong to"),
    409: _problem("Conflicts with the current state"),
    413: _problem("Over a size, segment or text length limit"),
    422: _problem("Invalid request: see 'errors'"),
    429: _problem("Over the rate limit or the upload quota: wait 'Retry-After' seconds"),
    503: _problem("The server or its database is busy: try again after 'Retry-After' seconds"),
}


# ---- users ------------------------------------------------------------------------------------
class UserOut(ORM):
    id: int = Field(examples=[1])
    name: str = Field(examples=["amina"])
    is_admin: bool = Field(examples=[False])
    created_at: Timestamp = Field(examples=[WHEN])


class UserCreate(Input):
    name: str = Field(min_length=1, max_length=100, examples=["amina"])
    admin: bool = Field(default=False, examples=[False])


class TokenCreate(Input):
    label: str = Field(default="", max_length=100, examples=["laptop"])
    expires_in_days: float | None = Field(
        default=None, gt=0, le=3650, examples=[90],
        description="The token stops working after this many days (none: when revoked).")


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored.",
                       examples=["pc_3q2x4...vQ"])


class UserCreated(TokenOut):
    user: UserOut


class TokenInfo(ORM):
    """A token as stored: never the token itself."""

    id: int = Field(examples=[3])
    label: str = Field(examples=["laptop"])
    created_at: Timestamp = Field(examples=[WHEN])
    revoked_at: Timestamp | None = Field(default=None, examples=[None])
    expires_at: Timestamp | None = Field(default=None, examples=[None])
    current: bool = Field(default=False, description="The token this request was sent with.",
                          examples=[True])


# ---- projects ---------------------------------------------------------------------------------
class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=200, examples=["Falls clinic evaluation"])
    codebook: str | None = Field(
        default=None, max_length=300, examples=["npt,integrating"],
        description="Built-in codebooks joined by commas (default: the model's codebook); upload "
                    "your own with PUT /v1/projects/{id}/codebook.")


class ProjectOut(ORM):
    id: int = Field(examples=[7])
    name: str = Field(examples=["Falls clinic evaluation"])
    codebook_source: str = Field(examples=["npt,integrating"])
    role: Role = Field(description="Your role in the project.", examples=["owner"])
    created_at: Timestamp = Field(examples=[WHEN])
    blind: bool = Field(default=False, description="Blind coding: a coder sees the model's "
                        "suggestions on a segment only once they coded it themselves.",
                        examples=[False])


class ProjectUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200, examples=[None])
    blind: bool | None = Field(default=None, examples=[True],
                               description="Blind coding for every coder of the project.")


class CodeOut(ORM):
    id: str = Field(examples=[CODE])
    label: str = Field(examples=["Communal specification"])
    parent: str | None = Field(examples=["npt.coherence"])
    definition: str = Field(examples=["People work together to build a shared understanding "
                                      "of the aims of a new practice."])
    codable: bool = Field(examples=[True])


class CodebookOut(BaseModel):
    id: str = Field(examples=["npt+integrating"])
    label: str = Field(examples=["NPT and integrating"])
    source: str = Field(examples=["npt,integrating"])
    codes: list[CodeOut]


class MemberIn(Input):
    user: str = Field(min_length=1, max_length=100, examples=["bob"],
                      description="The user's name.")
    role: Role = Field(examples=["coder"])


class MemberOut(BaseModel):
    user_id: int = Field(examples=[2])
    name: str = Field(examples=["bob"])
    role: Role = Field(examples=["coder"])


class ModelVersionOut(ORM):
    id: int = Field(examples=[9], description="What suggestions name as model_version_id.")
    version: int = Field(examples=[1])
    created_at: Timestamp = Field(examples=[WHEN])
    job_id: int | None = Field(examples=[12])
    summary: dict = Field(examples=[{"from_version": 0, "n_excerpts": 412,
                                     "n_reviewed_segments": 60}])
    current: bool = Field(default=False, examples=[True])
    measured_on: str | None = Field(
        default=None, description="What this version's confidences were measured on.",
        examples=["held-out excerpts of the model's own training data (precode seed corpus "
                  "(v1)), which neither its encoder nor its head had seen"])
    caution: str | None = Field(
        default=None, description="Where its confidences are known not to hold: set for a model "
        "learnt from precode's authored seed corpus and not yet calibrated on a researcher's "
        "codings, whose suggestions have measured no better than chance on real interview "
        "speech.", examples=[None])


# ---- documents --------------------------------------------------------------------------------
class DocumentOut(ORM):
    id: int = Field(examples=[3])
    name: str = Field(examples=["interview-03.docx"])
    upload_id: int = Field(examples=[3])
    n_segments: int = Field(examples=[48])
    precoded_at: Timestamp | None = Field(examples=[WHEN])
    precoded_version_id: int | None = Field(examples=[1])
    created_at: Timestamp = Field(examples=[WHEN])


class DocumentDetail(DocumentOut):
    text: str = Field(description="The text the segments' offsets point into.",
                      examples=["Interviewer: How did the clinic start?\nP3: We all sat down..."])


class UploadInfo(ORM):
    id: int = Field(examples=[3])
    filename: str = Field(examples=["interview-03.docx"])
    media_type: str = Field(examples=["application/vnd.openxmlformats-officedocument."
                                      "wordprocessingml.document"])
    size: int = Field(examples=[48213])
    sha256: str = Field(examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    created_at: Timestamp = Field(examples=[WHEN])


class UploadOut(BaseModel):
    upload: UploadInfo
    documents: list[DocumentOut]
    notes: list[str] = Field(examples=[["2 coding(s) in the project were not imported (only its "
                                        "text sources are)"]])


class DocumentSegment(ORM):
    id: int = Field(examples=[118])
    document_id: int = Field(examples=[3])
    position: int = Field(examples=[4])
    external_id: str = Field(examples=["interview-03.docx#5"])
    start: int = Field(examples=[412])
    end: int = Field(examples=[530])
    speaker: str | None = Field(examples=["P3"])
    text: str = Field(examples=["We all sat down and agreed what the falls check was for."])
    is_interviewer: bool = Field(examples=[False])
    time_start: float | None = Field(default=None, description="Where the segment starts in the "
                                     "media, in seconds (subtitle files); null for untimed text.",
                                     examples=[62.5])
    time_end: float | None = Field(default=None, description="Where the segment ends in the "
                                   "media, in seconds; null for untimed text.", examples=[69.0])
    context: str | None = Field(default=None, description="The question the segment answers, "
                                "from an uploaded segment table's `context` column; null "
                                "otherwise (a transcript's question is the interviewer turn "
                                "before the segment).",
                                examples=["How did the team decide who runs the falls check?"])


# ---- jobs -------------------------------------------------------------------------------------
class JobCreate(Input):
    kind: Literal["precode", "retrain"] = Field(examples=["precode"])
    document_ids: list[DbId] | None = Field(
        default=None, description="precode: the documents (default: all of the project's).",
        examples=[[3, 4]])
    redo: bool = Field(default=False, description="precode: pre-code documents again that were "
                                                  "pre-coded before (their pending suggestions "
                                                  "become 'superseded').")
    min_confidence: float | None = Field(default=None, ge=0, le=1, examples=[None])
    top_k: int | None = Field(default=None, ge=1, le=50, examples=[None])
    engine: Literal["local", "ray"] | None = Field(
        default=None, description="precode: 'ray' codes the documents on a Ray cluster (the "
                                  "server needs precode[ray]); default: the server itself.",
        examples=[None])
    ray_address: str | None = Field(
        default=None, min_length=1, max_length=300,
        description="precode with engine 'ray': the cluster to join (default: a local one "
                    "started for the job).", examples=[None])
    recalibrate: bool = Field(
        default=True, description="retrain: map the new version's confidences on the reviewed "
                                  "segments (scored out of fold, 20 or more needed), so that it "
                                  "abstains where it cannot beat the project's base rate.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "precode"},
                                                              {"kind": "retrain"}]})


class JobOut(ORM):
    id: int = Field(examples=[12])
    project_id: int = Field(examples=[7])
    kind: str = Field(examples=["precode"])
    status: Literal["queued", "running", "succeeded", "failed"] = Field(examples=["running"])
    progress: float = Field(ge=0, le=1, examples=[0.5])
    done: int = Field(examples=[2])
    total: int = Field(examples=[4])
    message: str = Field(examples=["2 of 4 document(s) done"])
    error: str | None = Field(examples=[None])
    attempts: int = Field(description="How many times a server process started it (more than "
                                      "one after an interruption).", examples=[1])
    params: dict = Field(examples=[{"document_ids": [3, 4, 5, 6]}])
    result: dict = Field(examples=[{"done": [3, 4], "suggestions": 57, "skipped": 0}])
    created_at: Timestamp = Field(examples=[WHEN])
    started_at: Timestamp | None = Field(examples=[WHEN])
    finished_at: Timestamp | None = Field(examples=[None])


# ---- suggestions and reviews ------------------------------------------------------------------
class EvidenceOut(BaseModel):
    text: str = Field(examples=["As a group we worked out the purpose of the new pathway."])
    codes: list[str] = Field(examples=[[CODE]])
    similarity: float = Field(examples=[0.81])
    id: str | None = Field(default=None, examples=["segment-118"])
    context: str | None = Field(default=None, description="The question the coded excerpt "
                                "answered, where the model learnt it with one.")


class ImpliedOut(BaseModel):
    id: int = Field(examples=[502])
    code: str = Field(examples=["npt.coherence"])
    label: str = Field(examples=["Coherence"])


class ConsensusOut(BaseModel):
    status: Literal["accepted", "rejected", "changed"] = Field(examples=["accepted"])
    code: str | None = Field(examples=[CODE])
    by: str | None = Field(examples=["amina"])
    at: Timestamp | None = Field(examples=[WHEN])


class DecisionOut(BaseModel):
    reviewer: str = Field(description="Who recorded it (for an import: who uploaded the file).",
                          examples=["amina"])
    coder: str = Field(description="Whose decision it is (for an import: the coder the file "
                                   "names).", examples=["amina"])
    status: Literal["accepted", "rejected", "changed"] = Field(examples=["accepted"])
    code: str | None = Field(examples=[CODE])
    created_at: Timestamp = Field(examples=[WHEN])
    decided_at: Timestamp = Field(examples=[WHEN])


class ProjectSuggestion(BaseModel):
    id: int = Field(examples=[501])
    segment: DocumentSegment
    document: str = Field(examples=["interview-03.docx"])
    code: str = Field(examples=[CODE])
    label: str = Field(examples=["Communal specification"])
    origin: Literal["model", "human", "imported"] = Field(
        description="Suggested by the model, added by a person here, or imported from a project "
                    "file.", examples=["model"])
    confidence: float | None = Field(examples=[0.62])
    threshold: float | None = Field(examples=[0.58])
    uncertainty: float | None = Field(description="|confidence - threshold|: small is "
                                                  "informative.", examples=[0.04])
    status: Status = Field(description="Your own decision (pending: you have not decided it).",
                           examples=["pending"])
    decided_code: str | None = Field(description="The code it is for you after your decision.",
                                     examples=[None])
    evidence: list[EvidenceOut]
    model_version_id: int | None = Field(examples=[1])
    created_at: Timestamp = Field(examples=[WHEN])
    decided_at: Timestamp | None = Field(default=None, description="When you decided it "
                                         "(null: pending for you).", examples=[None])
    implies: list[ImpliedOut] = Field(default_factory=list, description="The parent "
                                      "suggestions this sub-code stands for: deciding it "
                                      "decides them.")
    project_status: Status | None = Field(default=None, description="The project's view, "
                                          "what the model learns from: the consensus where "
                                          "set, else the latest decision of anyone.",
                                          examples=["pending"])
    consensus: ConsensusOut | None = Field(default=None, description="The project's "
                                           "consensus, once an owner set it.")


class SuggestionPage(BaseModel):
    total: int = Field(examples=[120])
    items: list[ProjectSuggestion]


class ReviewIn(Input):
    action: Literal["accept", "reject", "change"] = Field(examples=["accept"])
    code: str | None = Field(default=None, max_length=200,
                             description="For 'change': the code to use instead, by id or "
                                         "label (the id is stored).",
                             examples=[None])
    note: str = Field(default="", max_length=2000, examples=[""])

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "accept"}, {"action": "reject", "note": "talks about the GP, not the team"},
        {"action": "change", "code": "npt.coherence.differentiation"}]})


class ReviewOut(BaseModel):
    id: int = Field(examples=[900])
    suggestion_id: int = Field(examples=[501])
    reviewer: str = Field(description="Who decided (for an import: who uploaded the file).",
                          examples=["amina"])
    action: Literal["accept", "reject", "change", "add", "import", "consensus", "undo"] = Field(
        description="undo: the reviewer withdrew their own decision (pending for them again).",
        examples=["accept"])
    code: str | None = Field(examples=[CODE])
    coder: str | None = Field(default=None, description="For an import: the coder the project "
                                                        "file names.", examples=[None])
    note: str = Field(examples=[""])
    created_at: Timestamp = Field(examples=[WHEN])


class SuggestionDetail(ProjectSuggestion):
    reviews: list[ReviewOut] = Field(description="Every decision on it, oldest first.")
    decisions: list[DecisionOut] = Field(default_factory=list, description="Each person's "
                                         "current decision on it.")


class ReviewPage(BaseModel):
    total: int = Field(examples=[300])
    items: list[ReviewOut]


class CodingIn(Input):
    segment_id: DbId = Field(examples=[118])
    code: CodeId
    note: str = Field(default="", max_length=2000, examples=["the model missed this one"])


class BulkAcceptIn(Input):
    ids: list[DbId] | None = Field(default=None, max_length=10_000, examples=[[501, 502]])
    document_id: DbId | None = Field(default=None, examples=[None])
    code: str | None = Field(default=None, max_length=200, examples=[None],
                             description="Only suggestions of this code (its id or label).")
    min_confidence: float | None = Field(default=None, ge=0, le=1, examples=[0.9])
    note: str = Field(default="", max_length=2000, examples=["bulk: confident ones"])
    dry_run: bool = Field(default=False, description="Only count and name what would be "
                                                     "accepted; nothing is recorded.")


class BlindCodingIn(Input):
    codes: list[CodeId] = Field(default_factory=list, max_length=200,
                                description="Your codes for the segment (none: no code "
                                            "applies); codes you already gave it are kept.",
                                examples=[[CODE]])
    note: str = Field(default="", max_length=2000, examples=[""])


class BlindSegmentOut(BaseModel):
    segment: DocumentSegment
    blind: bool = Field(description="Whether you code this project blind.", examples=[True])
    coded: bool = Field(description="You coded the segment yourself: its suggestions show.",
                        examples=[False])
    my_codes: list[str] = Field(description="The codes you gave it.", examples=[[CODE]])
    suggestions: list[ProjectSuggestion] = Field(description="Its suggestions, once you coded "
                                                             "it (always when not blind).")


class MemoIn(Input):
    text: str = Field(min_length=1, max_length=20_000,
                      examples=["Sounds like sensemaking, but she is quoting her manager."])


class MemoOut(BaseModel):
    id: int = Field(examples=[31])
    segment_id: int = Field(examples=[118])
    author: str = Field(examples=["amina"])
    text: str = Field(examples=["Sounds like sensemaking, but she is quoting her manager."])
    created_at: Timestamp = Field(examples=[WHEN])
    updated_at: Timestamp = Field(examples=[WHEN])


class ProgressCounts(BaseModel):
    pending: int = Field(examples=[12])
    accepted: int = Field(examples=[6])
    rejected: int = Field(examples=[2])
    changed: int = Field(examples=[0])
    decided: int = Field(examples=[8])


class DocumentProgress(ProgressCounts):
    document_id: int = Field(examples=[3])


class ProgressOut(ProgressCounts):
    """Your own progress over the suggestions you see (superseded ones aside)."""

    documents: list[DocumentProgress]


class BulkAcceptOut(BaseModel):
    accepted: int = Field(examples=[2], description="How many were accepted (with dry_run: "
                                                    "would be).")
    ids: list[int] = Field(examples=[[501, 502]])
    dry_run: bool = Field(default=False, examples=[False])


AGREEMENT_EXAMPLE = {
    "n_units": 40, "n_units_compared": 38, "n_coders": 2, "coders": ["precode model", "amina"],
    "mode": "multilabel", "level": "nominal", "n_boot": 1000, "seed": 0,
    "overall": {"percent_agreement": 0.91, "cohen_kappa": {"value": 0.64, "se": 0.08,
                                                           "ci": [0.48, 0.8]}},
    "per_code": {CODE: {"n_units": 38, "n_positive": 9, "percent_agreement": 0.92}},
    "pairs": {"precode model|amina": {"n_units": 38, "percent_agreement": 0.91}},
    "warnings": ["2 unit(s) were coded by only one coder and are not compared"],
    "disagreements": [{"unit": "interview-03.docx:412-530", "text": "We all sat down ...",
                       "codes": {"precode model": [CODE], "amina": []}}]}

PAIRS_EXAMPLE = {
    "coders": ["precode model", "amina", "bob"], "mode": "multilabel", "level": "nominal",
    "n_boot": 0, "seed": 0,
    "pairs": [{"a": "precode model", "b": "amina", "kind": "model", "n_units": 40,
               "n_units_compared": 38, "coders": ["precode model", "amina"],
               "overall": {"percent_agreement": 0.91},
               "per_code": {CODE: {"label": "Communal specification", "n_units": 38,
                                   "percent_agreement": 0.92}},
               "warnings": []},
              {"a": "amina", "b": "bob", "kind": "coders", "error": "agreement needs at least "
                                                                   "two coders, found 1"}]}
