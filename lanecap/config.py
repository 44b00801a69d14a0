"""The one validated settings tree: a TOML file plus environment overrides.

Secrets (database URL with password, S3 keys) come from the environment or
files named in it, never from the config file's text.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from capture.types import CameraRole
from lanecap.errors import ConfigError

PlateRegion = Literal["any", "eu", "us", "br", "de", "fr", "it", "es", "nl", "pl", "ro", "gb"]
"""Plate grammars: a country code, `eu` (the EU grammars lanecap knows) or `any`."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Model):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Camera id, unique per site."
    )
    source: str = Field(
        min_length=1,
        description="Video file, image folder, rtsp:// or http:// URL, or device:N.",
    )
    role: CameraRole = Field(description="What the camera looks at.")
    roi: tuple[int, int, int, int] | None = Field(
        default=None,
        description="Region of interest (x1, y1, x2, y2) in pixels; None = whole frame.",
    )
    sample_fps: float = Field(default=5.0, gt=0, le=60, description="Frames analysed per second.")
    face_view: Literal["front", "driver_side"] = Field(
        default="driver_side",
        description="Driver cameras: through the windshield ('front') or the driver's window.",
    )
    vehicles: Literal["off", "motion"] = Field(
        default="off",
        description="'motion': track whole vehicles by background subtraction (fixed camera "
        "only), so a vehicle whose plate is never seen is still one crossing.",
    )

    @field_validator("roi")
    @classmethod
    def _roi_ordered(cls, v: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if v is not None:
            x1, y1, x2, y2 = v
            if min(v) < 0 or x2 <= x1 or y2 <= y1:
                raise ValueError("roi must be (x1, y1, x2, y2) with 0 <= x1 < x2 and 0 <= y1 < y2")
        return v


class LaneConfig(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Lane id, unique per site.")
    driving_side: Literal["right", "left"] = Field(
        default="right",
        description="Traffic side: 'right' means left-hand-drive cars (driver on the left).",
    )
    plate_regions: tuple[PlateRegion, ...] = Field(
        default=("any",), min_length=1, description="Plate grammars tried on this lane."
    )
    cameras: tuple[CameraConfig, ...] = Field(min_length=1, description="The lane's cameras.")
    vehicle_gap_s: float = Field(
        default=1.5, gt=0, le=30, description="Seconds without a sighting that end a vehicle."
    )
    fusion_window_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds within which cameras' sightings are one vehicle.",
    )
    repeat_window_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description=(
            "A crossing whose plate reads the same as this lane's previous crossing and that"
            " starts within this many seconds of its end is the same vehicle seen again (a"
            " track lost and found at the edge of the view, a node behind its frames): it is"
            " not stored a second time, and is counted. 0 turns this off."
        ),
    )

    @model_validator(mode="after")
    def _unique_cameras(self) -> LaneConfig:
        ids = [c.id for c in self.cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"camera ids must be unique within a lane; repeated: {', '.join(dup)}")
        return self


class DatabaseConfig(_Model):
    url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset = embedded server. Prefer env LANECAP_DATABASE_URL.",
    )
    read_url: str | None = Field(
        default=None,
        description="Read replica URL for officer searches and the console, falling back to"
        " the primary while it is down; unset = read the primary. Prefer env"
        " LANECAP_DATABASE_READ_URL.",
    )
    pool_size: int = Field(default=4, ge=1, le=64, description="Connections per process.")


class ObjectStoreConfig(_Model):
    endpoint: str | None = Field(
        default=None,
        description="S3 host:port; unset = embedded SeaweedFS. Env LANECAP_S3_ENDPOINT.",
    )
    secure: bool = Field(default=True, description="Use TLS to the S3 endpoint.")
    region: str | None = Field(default=None, description="S3 region, if the server wants one.")
    bucket_prefix: str = Field(
        default="lanecap",
        pattern=r"^[a-z0-9][a-z0-9-]{1,30}$",
        description="Prefix of bucket names.",
    )


class RetentionConfig(_Model):
    plate_reads_days: int = Field(default=30, ge=1, le=3650, description="Crossings without a hit.")
    face_crops_days: int = Field(
        default=30, ge=1, le=3650, description="Face crops without a match."
    )
    alerts_days: int = Field(default=365, ge=1, le=3650, description="Crossings with an alert.")
    audit_days: int = Field(default=2555, ge=365, le=7300, description="Audit log entries.")
    preview_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="Live booth previews of vehicles still in the lane (the crossing is the record).",
    )


class KeysConfig(_Model):
    dir: Path | None = Field(
        default=None,
        description=(
            "Key directory (agency.pub, search.key; private keys only on the officer service);"
            " unset = data_dir/keys. Env LANECAP_KEYS_DIR."
        ),
    )
    auto_create: bool = Field(
        default=True,
        description="With embedded storage (demo), create a missing key set under the key dir.",
    )


class SecurityConfig(_Model):
    searches_per_hour: int = Field(
        default=120, ge=1, le=10000, description="Searches a user may run per hour."
    )
    flag_searches_per_day: int = Field(
        default=300, ge=1, le=100000, description="Daily searches that flag a user for review."
    )
    reads_per_hour: int = Field(
        default=600,
        ge=1,
        le=100000,
        description=(
            "Traveller-data reads a user may make per hour, API and CLI together: each search,"
            " crossing opened (booth row, search hit, detail, CLI list row), crop, live preview,"
            " 1:1 check and export is one. Above it reads are refused (HTTP 429, Retry-After)."
        ),
    )
    flag_reads_per_day: int = Field(
        default=3000,
        ge=1,
        le=1000000,
        description="Reads in a day that flag a user for review (read.volume_flagged).",
    )
    flag_reads_per_minute: int = Field(
        default=100,
        ge=1,
        le=100000,
        description="Reads within a minute that flag a burst for review (read.burst_flagged).",
    )
    max_failed_logins: int = Field(
        default=8,
        ge=1,
        le=100,
        description=(
            "Failed sign-ins for one user name (from any address) after which its sign-ins are"
            " refused for a while; an account is never disabled by failures."
        ),
    )
    max_failed_logins_per_address: int = Field(
        default=20,
        ge=1,
        le=10000,
        description="Failed sign-ins from one client address (IPv6: its /64) before it is refused.",
    )
    login_lock_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="First refusal window past a limit; it doubles with each further failure.",
    )
    login_lock_max_seconds: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="Longest refusal window (caps the doubling).",
    )
    login_failures_forget_seconds: int = Field(
        default=3600,
        ge=60,
        le=604800,
        description="Failures are forgotten after this long without another failure.",
    )
    token_days: int = Field(default=365, ge=1, le=3650, description="Lane token lifetime.")
    checkpoint_every: int = Field(
        default=100, ge=1, le=100000, description="Audit events between signed checkpoints."
    )
    checkpoint_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="The officer service signs and anchors a checkpoint this often (new entries).",
    )
    audit_anchor_days: int = Field(
        default=2555,
        ge=1,
        le=7300,
        description="COMPLIANCE retention of each write-once audit anchor in S3 (~7 years).",
    )
    history_linkage: bool = Field(
        default=False,
        description="Allow linking crossings by face or plate history (off unless policy allows).",
    )
    keep_passenger_faces: bool = Field(
        default=False,
        description=(
            "Keep passengers' faces (crops and encodings, sealed like the driver's, and matched"
            " against the watch list). Only for sites whose law requires it; off: passengers"
            " are blurred and their encodings discarded."
        ),
    )


class ApiConfig(_Model):
    behind_tls_proxy: bool = Field(
        default=False,
        description=(
            "`serve` runs behind a proxy that terminates TLS: cookies are Secure, responses"
            " carry Strict-Transport-Security, and X-Forwarded-For/-Proto are trusted from"
            " `forwarded_allow_ips` only (client addresses for sign-in throttling)."
        ),
    )
    forwarded_allow_ips: tuple[str, ...] = Field(
        default=("127.0.0.1", "::1"),
        min_length=1,
        description="Addresses or networks of the TLS proxy (never '*').",
    )
    hsts_max_age_s: int = Field(
        default=31536000,
        ge=300,
        le=63072000,
        description="Strict-Transport-Security max-age for responses served over HTTPS.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body (JSON, sign-in) before routing and authentication.",
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="Largest request body of the routes that take a file (photos, frames, CSV).",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=10_000,
        le=400_000_000,
        description="Largest uploaded image (width x height, from its header) that is decoded.",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (a proxy's address; never '*')"
                ) from None
        return v


class RecognitionConfig(_Model):
    plate_detector: Literal["paired", "yolo", "contour"] = Field(
        default="paired",
        description=(
            "Plate detector. paired: two YOLO models, the finder (fine-tuned on real photos of"
            " every region) decides where plates are and the shipped model frames each one as"
            " the reader was trained on; finds more plates abroad, about twice the detection"
            " time. yolo: the shipped model alone, for nodes at their CPU limit. contour: the"
            " baseline without a model."
        ),
    )
    plate_min_score: float = Field(
        default=0.35, ge=0, le=1, description="Detector confidence floor."
    )
    plate_confirm_score: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description=(
            "Detections scoring between this and plate_min_score are read at once and kept"
            " only when every character is sure and the text fits a format (5-8 letters and"
            " digits); the same as plate_min_score turns this off."
        ),
    )
    read_min_confidence: float = Field(
        default=0.2, ge=0, le=1, description="Reader confidence floor."
    )
    read_framings: Literal["adaptive", "consensus", "single"] = Field(
        default="adaptive",
        description=(
            "adaptive: read each plate crop once and add three more framings only when that"
            " read is unsure (same exactness as consensus on our sets, two thirds of its"
            " reading time per vehicle); consensus: always four framings, likeliest text"
            " wins (end to end on openalpr-us-dev 0.802 exact against 0.721 for single);"
            " single: one framing, for nodes at their CPU limit."
        ),
    )
    plate_second_reader: Literal["rapidocr", "none"] = Field(
        default="rapidocr",
        description=(
            "Second opinion on unsure plate reads: rapidocr reads a crop again with the PP-OCR"
            " recogniser inside the rapidocr wheel whenever our read is not sure, and keeps the"
            " more confident of the two (on 600 held-out Spanish and US crops 0.852 exact"
            " against 0.807 alone; 0.829 -> 0.811 on openalpr-us-dev); none: our reader only."
        ),
    )
    settle_reads: int = Field(
        default=3,
        ge=0,
        le=50,
        description=(
            "Stop reading a vehicle's plate once this many reads in a row agree, each with"
            " confidence >= 0.8 (its later frames are still tracked); 0 reads every frame."
        ),
    )
    face_model: Literal["hog", "cnn"] = Field(default="hog", description="Face detector.")
    face_detector: Literal["yunet", "dlib"] = Field(
        default="yunet",
        description=(
            "Driver-face detector: yunet (OpenCV's YuNet, shipped in recognition/models;"
            " finds the small dim faces behind a windshield that HOG misses, see"
            " recognition/faces/calibration.md) or dlib (face_model's HOG or CNN). Both"
            " feed dlib's 5-point landmarks and encoder, so stored embeddings stay valid."
        ),
    )
    face_encoder: Literal["dlib", "sface"] = Field(
        default="dlib",
        description=(
            "Face encoder: dlib (dlib's ResNet, face_recognition's encodings) or sface"
            " (OpenCV's SFace on YuNet's five points; needs face_detector yunet). The two"
            " give incomparable 128-d vectors with their own thresholds"
            " (recognition/faces/calibration*.json): changing it means re-encoding stored"
            " faces and watch lists (recognition/faces/calibration.md, Encoder)."
        ),
    )
    threads: int = Field(default=2, ge=1, le=64, description="Inference threads.")

    @model_validator(mode="after")
    def _sface_needs_yunet(self) -> RecognitionConfig:
        if self.face_encoder == "sface" and self.face_detector != "yunet":
            raise ValueError("face_encoder sface aligns on YuNet's points: set face_detector yunet")
        return self


class Settings(_Model):
    site: str = Field(default="lanecap-site", min_length=1, max_length=64, description="Site name.")
    data_dir: Path = Field(
        default=Path("var"),
        description="Embedded services' data, spool and keys (relative to cwd).",
    )
    database: DatabaseConfig = DatabaseConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    retention: RetentionConfig = RetentionConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    keys: KeysConfig = KeysConfig()
    security: SecurityConfig = SecurityConfig()
    api: ApiConfig = ApiConfig()
    spool_max_mb: int = Field(
        default=2048, ge=1, le=1_000_000, description="Local store-and-forward spool bound (MiB)."
    )
    lanes: tuple[LaneConfig, ...] = Field(default=(), description="Lanes served by this node.")

    @model_validator(mode="after")
    def _unique_lanes(self) -> Settings:
        ids = [lane.id for lane in self.lanes]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"lane ids must be unique; repeated: {', '.join(dup)}")
        cams = [c.id for lane in self.lanes for c in lane.cameras]
        dupc = sorted({i for i in cams if cams.count(i) > 1})
        if dupc:
            raise ValueError(f"camera ids must be unique across lanes; repeated: {', '.join(dupc)}")
        return self

    def lane(self, lane_id: str) -> LaneConfig:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        known = ", ".join(lane.id for lane in self.lanes) or "none"
        raise ConfigError([f"lanes: no lane with id {lane_id!r} (configured: {known})"])


ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "LANECAP_DATABASE_URL": ("database", "url"),
    "LANECAP_DATABASE_READ_URL": ("database", "read_url"),
    "LANECAP_S3_ENDPOINT": ("object_store", "endpoint"),
    "LANECAP_S3_SECURE": ("object_store", "secure"),
    "LANECAP_S3_REGION": ("object_store", "region"),
    "LANECAP_DATA_DIR": ("data_dir",),
    "LANECAP_KEYS_DIR": ("keys", "dir"),
}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def format_errors(err: ValidationError) -> list[str]:
    """One line per problem, each starting with the path of the bad field."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{_format_loc(loc)}: {msg}")
    return lines


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    for name, path in ENV_OVERRIDES.items():
        if name in env and env[name] != "":
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise ConfigError([f"{'.'.join(path[:-1])}: must be a table to apply {name}"])
            node[path[-1]] = env[name]
    return data


def settings_from_dict(data: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    data = _apply_env(dict(data), dict(os.environ) if env is None else env)
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_errors(err)) from None


def load_settings(path: Path | None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate FILE (or defaults when None); raises ConfigError listing every problem."""
    if path is None:
        return settings_from_dict({}, env)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read config file ({err.strerror})"]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([f"{path}: not UTF-8 text (byte {err.start})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{path}: not valid TOML ({err})"]) from None
    settings = settings_from_dict(data, env)
    if not settings.data_dir.is_absolute():
        settings = settings.model_copy(update={"data_dir": Path.cwd() / settings.data_dir})
    return resolve_sources(settings, path.parent.resolve())


def is_path_source(source: str) -> bool:
    return "://" not in source and not source.startswith("device:") and not source.isdigit()


def resolve_sources(settings: Settings, base: Path) -> Settings:
    """Relative file and folder sources are taken relative to `base` (the config file's folder)."""
    lanes = []
    for lane in settings.lanes:
        cams = tuple(
            c.model_copy(update={"source": str(base / c.source)})
            if is_path_source(c.source) and not Path(c.source).is_absolute()
            else c
            for c in lane.cameras
        )
        lanes.append(lane.model_copy(update={"cameras": cams}))
    return settings.model_copy(update={"lanes": tuple(lanes)})
