"""`lanecap keys|audit|retention|holds|users|tokens`: the security and privacy commands.

These are operator commands run on the officer/audit host. They act as a `system:cli-<os
user>` principal with the role the command needs, and every change is audited.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import psycopg
from psycopg_pool import ConnectionPool

from lanecap.cli.base import (
    CliLogin,
    Context,
    checked_reason,
    cli_login,
    cli_trail,
    pass_ctx,
    reader_login,
    reports_errors,
)
from lanecap.config import Settings
from lanecap.evidence import audit_trail
from lanecap.keys import (
    AGENCY_PUBLIC,
    SEARCH_KEY,
    init_keys,
    keys_dir,
    load_audit_verify_key,
    load_keyring,
    load_sealer,
    retire_agency_key,
    rotate_agency_key,
)
from lanecap.retention import apply_retention
from lanecap.security import tokens as tok
from lanecap.security import users as usr
from lanecap.security.roles import USER_ROLES, Permission, Principal, Role
from lanecap.security.trail import AuditTrail
from lanecap.services.lanes import lane_role
from lanecap.services.runtime import (
    Endpoints,
    object_store,
    provision_database_login,
    provision_s3_identity,
    storage_endpoints,
)
from storage import anchors, audit, holds, keystore
from storage.db import migrate, open_pool
from storage.objects import ObjectStore


def _operator(role: Role) -> Principal:
    name = re.sub(r"[^a-z0-9._-]", "", getpass.getuser().lower()) or "unknown"
    return Principal(name=f"cli-{name}", role=role, kind="system")


@dataclass(frozen=True)
class _Store:
    endpoints: Endpoints
    pool: ConnectionPool
    objects: ObjectStore
    trail: AuditTrail


@contextlib.contextmanager
def _store(settings: Settings) -> Iterator[_Store]:
    with storage_endpoints(settings) as ep:
        migrate(ep.admin_url)
        pool = open_pool(ep.database_url, size=2)
        try:
            objects = object_store(settings, ep)
            objects.ensure_buckets(object_lock=True)
            yield _Store(ep, pool, objects, audit_trail(settings, pool))
        finally:
            pool.close()


# keys ------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Agency key pair, search key and audit signing key."""


@keys.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key directory (default: keys.dir, or data_dir/keys).",
)
@pass_ctx
@reports_errors
def keys_init(ctx: Context, directory: Path | None) -> None:
    """Create missing keys (private files 0600); never overwrites."""
    d = directory or keys_dir(ctx.settings)
    ks = init_keys(d)
    click.echo(f"key directory {d}: agency key {ks.agency_key_id}")
    click.echo(f"created: {', '.join(ks.created) or 'nothing (all present)'}")
    click.echo(
        "lane nodes need only agency.pub: `lanecap keys export-lane DIR --lane ID`;"
        " agency-*.key, search.key and audit-signing.key stay on the officer service"
    )


@keys.command("export-lane")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--lane",
    "lane_id",
    default=None,
    help="Also provision this lane's own database login and S3 identity into DEST/lane.env.",
)
@pass_ctx
@reports_errors
def keys_export_lane(ctx: Context, dest: Path, lane_id: str | None) -> None:
    """Copy what a lane node needs into DEST: the agency public key, which seals and opens
    nothing. With --lane, the lane's own logins too (DEST/lane.env, 0600): a database login
    that may only insert that lane's crossings and an S3 identity that may only put objects
    under its prefix."""
    src = keys_dir(ctx.settings)
    load_sealer(src)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(src / AGENCY_PUBLIC, dest / AGENCY_PUBLIC)
    (dest / AGENCY_PUBLIC).chmod(0o644)
    click.echo(f"lane keys written to {dest}: {AGENCY_PUBLIC}")
    if (dest / SEARCH_KEY).exists():
        (dest / SEARCH_KEY).unlink()
        click.echo(f"removed {SEARCH_KEY} from {dest}: lane nodes no longer hold it")
    if lane_id is not None:
        _export_lane_logins(ctx.settings, dest, lane_id)


def _export_lane_logins(settings: Settings, dest: Path, lane_id: str) -> None:
    with storage_endpoints(settings) as ep:
        database_url = provision_database_login(settings, ep, lane_id)
        access = secret = ""
        if "seaweedfs" in ep.embedded:
            access, secret = provision_s3_identity(settings, ep, lane_id)
        pool = open_pool(ep.database_url, size=1)
        try:
            audit_trail(settings, pool).record(
                _operator("admin"),
                "lane.provision",
                target=f"lane:{lane_id}",
                detail={"role": lane_role(lane_id), "s3": bool(access)},
            )
        finally:
            pool.close()
    lines = [
        f"# lanecap lane node {lane_id}: its own logins only (write, never read back)",
        f"LANECAP_DATABASE_URL={database_url}",
        f"LANECAP_S3_ENDPOINT={ep.s3_endpoint}",
        f"LANECAP_S3_SECURE={'true' if ep.s3_secure else 'false'}",
    ]
    if access:
        lines += [f"LANECAP_S3_ACCESS_KEY={access}", f"LANECAP_S3_SECRET_KEY={secret}"]
    else:
        lines += [
            "# External S3: create an identity that may only s3:PutObject on",
            f"#   arn:aws:s3:::{settings.object_store.bucket_prefix}-*/{lane_id}/*",
            "# and set LANECAP_S3_ACCESS_KEY / LANECAP_S3_SECRET_KEY to its keys.",
        ]
    out = dest / "lane.env"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out.chmod(0o600)
    click.echo(f"lane {lane_id} logins written to {out} (0600); copy it to the lane node only")
    if not access:
        click.echo("S3 is external: give the lane a write-only identity (see lane.env)")


@keys.command("rotate")
@click.option(
    "--retire-old/--keep-old",
    default=False,
    help="Delete the old private key once no data key is sealed to it.",
)
@pass_ctx
@reports_errors
def keys_rotate(ctx: Context, retire_old: bool) -> None:
    """New agency key pair; re-wrap every data key to it (objects in S3 are not touched)."""
    d = keys_dir(ctx.settings)
    by = _operator("admin")
    with _store(ctx.settings) as st:
        old, new = rotate_agency_key(d)
        n = keystore.rewrap_all(st.pool, load_keyring(d), load_sealer(d))
        left = keystore.key_counts(st.pool).get(old, 0)
        retired = retire_old and left == 0
        if retired:
            retire_agency_key(d, old)
        st.trail.record(
            by,
            "key.rotate",
            target=f"agency-key:{new}",
            detail={"old": old, "new": new, "rewrapped": n, "old_retired": retired},
        )
    click.echo(f"agency key {old} -> {new}: {n} data key(s) re-wrapped")
    if retired:
        click.echo(f"old private key {old} deleted")
    click.echo("copy the new agency.pub to every lane node")


@keys.command("status")
@pass_ctx
@reports_errors
def keys_status(ctx: Context) -> None:
    """Active agency key and how many data keys each agency key seals."""
    d = keys_dir(ctx.settings)
    click.echo(f"key directory {d}; active agency key {load_sealer(d).key_id}")
    with _store(ctx.settings) as st:
        for kid, n in sorted(keystore.key_counts(st.pool).items()):
            click.echo(f"  {kid}: {n} data key(s)")


# audit -----------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """Verify, checkpoint and read the audit log."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
@reports_errors
def audit_verify(ctx: Context, as_json: bool) -> None:
    """Recompute the hash chain and check signed checkpoints; exit 1 on any tampering."""
    vk = load_audit_verify_key(keys_dir(ctx.settings))
    with _store(ctx.settings) as st:
        found = anchors.newest(st.objects)
        with psycopg.connect(st.endpoints.database_url) as conn:
            r = audit.verify(conn, verify_key=vk, anchors=found)
    if as_json:
        click.echo(json.dumps(r.__dict__))
    elif r.ok:
        click.echo(
            f"audit log OK: {r.entries} entries, {r.checkpoints} signed checkpoint(s),"
            f" last seq {r.last_seq}, {r.unsigned_tail} entries unsigned"
            f" (after the last checkpoint), anchored up to seq {r.anchored_seq or 0}"
        )
    else:
        click.echo(f"audit log FAILED at seq {r.first_bad_seq}: {r.problem}", err=True)
        click.echo(f"{r.unsigned_tail} entries unsigned", err=True)
    if not r.ok:
        sys.exit(1)


@audit_group.command("checkpoint")
@pass_ctx
@reports_errors
def audit_checkpoint(ctx: Context) -> None:
    """Sign the newest entry and anchor it in S3 (needs audit-signing.key)."""
    with _store(ctx.settings) as st:
        st.trail.checkpoint()
        key = st.trail.signing_key
        assert key is not None
        days = ctx.settings.security.audit_anchor_days
        cp = anchors.checkpoint_and_anchor(st.pool, st.objects, key, days=days)
    click.echo("audit log is empty" if cp is None else f"checkpoint signed at seq {cp.seq}")


@audit_group.command("list")
@click.option("--since-seq", type=int, default=0, help="Entries after this seq.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, help="At most this many.")
@click.option("--actor", default=None, help="Only this actor (e.g. user:olivia).")
@reader_login
@pass_ctx
@reports_errors
def audit_list(
    ctx: Context, since_seq: int, limit: int, actor: str | None, login: CliLogin
) -> None:
    """Print entries: seq, time, actor, action, target, reason. The log says who searched
    what and why, so only a signed-in auditor (or admin) reads it, and the read is audited."""
    with _store(ctx.settings) as st:
        trail = cli_trail(ctx.settings, st.pool)
        who = cli_login(st.pool, trail, login, permission=Permission.AUDIT_READ)
        trail.record(
            who,
            "audit.read",
            target="audit_events",
            detail={"since_seq": since_seq, "limit": limit, "actor": actor},
        )
        rows = audit.entries(st.pool, since_seq=since_seq, limit=limit, actor=actor)
    for e in rows:
        click.echo(
            f"{e.seq:>8} {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<20} {e.action:<22} {e.target}"
            + (f"  reason: {e.reason}" if e.reason else "")
        )


# retention -------------------------------------------------------------------------------


@click.group()
def retention() -> None:
    """Apply the retention policy."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Report what would be purged; change nothing.")
@click.option(
    "--with-audit/--without-audit",
    default=True,
    help="Also purge audit entries older than audit_days (schema owner's connection).",
)
@pass_ctx
@reports_errors
def retention_run(ctx: Context, dry_run: bool, with_audit: bool) -> None:
    """Purge rows, objects and keys past their retention; audit a deletion report."""
    with _store(ctx.settings) as st:
        run = apply_retention(
            st.pool,
            st.objects,
            st.trail,
            ctx.settings.retention,
            by=_operator("admin"),
            admin_url=st.endpoints.admin_url if with_audit else None,
            dry_run=dry_run,
        )
    r = run.report
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb}: {len(r.crossings)} crossing(s), faces of {len(r.faces_of)} more;"
        f" {r.keys_destroyed} key(s) destroyed, {r.objects_deleted} object(s) deleted,"
        f" {r.s3_pending} S3 deletion(s) pending, {r.held_skipped} held crossing(s) kept,"
        f" {run.audit_deleted} audit entr(ies) purged; report: audit seq {run.audit_seq}"
    )


# holds -----------------------------------------------------------------------------------


@click.group("holds")
def holds_group() -> None:
    """Legal holds: a held crossing is never purged."""


@holds_group.command("add")
@click.argument("case_number")
@click.argument("crossing_ids", nargs=-1, required=True, type=click.UUID)
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why (legal basis); no plate text.",
)
@pass_ctx
@reports_errors
def holds_add(
    ctx: Context, case_number: str, crossing_ids: tuple[uuid.UUID, ...], reason: str
) -> None:
    """Hold CROSSING_IDS for CASE_NUMBER (and S3 legal hold where buckets lock)."""
    by = _operator("supervisor")
    with _store(ctx.settings) as st:
        placed, locked = holds.place_hold(
            st.pool,
            st.objects,
            case_number=case_number,
            crossing_ids=list(crossing_ids),
            reason=reason,
            created_by=by.actor,
        )
        st.trail.record(
            by,
            "hold.add",
            target=f"case:{case_number}",
            reason=reason,
            detail={"crossing_ids": [str(c) for c in crossing_ids], "s3_versions_locked": locked},
        )
    click.echo(f"case {case_number}: {placed} hold(s) placed, {locked} S3 object version(s) locked")


@holds_group.command("release")
@click.argument("case_number")
@click.option(
    "--reason",
    required=True,
    callback=checked_reason,
    help="Why the hold ends; no plate text.",
)
@pass_ctx
@reports_errors
def holds_release(ctx: Context, case_number: str, reason: str) -> None:
    """Release every hold of CASE_NUMBER."""
    by = _operator("supervisor")
    with _store(ctx.settings) as st:
        released = holds.release_hold(
            st.pool, st.objects, case_number=case_number, released_by=by.actor
        )
        st.trail.record(
            by,
            "hold.release",
            target=f"case:{case_number}",
            reason=reason,
            detail={"crossing_ids": [str(c) for c in released]},
        )
    click.echo(f"case {case_number}: {len(released)} hold(s) released")


@holds_group.command("list")
@click.option("--case", "case_number", default=None, help="Only this case.")
@pass_ctx
@reports_errors
def holds_list(ctx: Context, case_number: str | None) -> None:
    """Active holds."""
    with _store(ctx.settings) as st:
        rows = holds.active_holds(st.pool, case_number=case_number)
    for h in rows:
        click.echo(f"{h.case_number:<20} {h.crossing_id} {h.created_at:%Y-%m-%d} {h.created_by}")
    click.echo(f"{len(rows)} active hold(s)")


# users and tokens ------------------------------------------------------------------------


@click.group()
def users() -> None:
    """People who use the officer service."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(USER_ROLES), required=True, help="Least privilege.")
@click.password_option(help="At least 12 characters (prompted when not given).")
@pass_ctx
@reports_errors
def users_add(ctx: Context, name: str, role: Role, password: str) -> None:
    """Add a user; prints the TOTP enrolment URI once."""
    with _store(ctx.settings) as st:
        new = usr.add_user(
            st.pool, st.trail, by=_operator("admin"), name=name, role=role, password=password
        )
    click.echo(f"user {new.name} ({new.role}) added; enrol the authenticator app with:")
    click.echo(new.totp_uri)


@users.command("list")
@pass_ctx
@reports_errors
def users_list(ctx: Context) -> None:
    """Users, roles and state."""
    with _store(ctx.settings) as st:
        rows = usr.list_users(st.pool)
    for u in rows:
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never"
        state = "disabled" if u.disabled else "active"
        click.echo(f"{u.name:<20} {u.role:<11} {state:<9} last login {last}")
    click.echo(f"{len(rows)} user(s)")


@users.command("disable")
@click.argument("name")
@pass_ctx
@reports_errors
def users_disable(ctx: Context, name: str) -> None:
    """Disable a user (kept for the audit trail)."""
    with _store(ctx.settings) as st:
        usr.disable_user(st.pool, st.trail, by=_operator("admin"), name=name)
    click.echo(f"user {name} disabled")


@users.command("enable")
@click.argument("name")
@pass_ctx
@reports_errors
def users_enable(ctx: Context, name: str) -> None:
    """Re-enable a user and clear the name's sign-in throttle (audited)."""
    with _store(ctx.settings) as st:
        usr.enable_user(st.pool, st.trail, by=_operator("admin"), name=name)
    click.echo(f"user {name} enabled; failed sign-ins for the name cleared")


@click.group()
def tokens() -> None:
    """Write-only API tokens for lane nodes."""


@tokens.command("create")
@click.option("--name", required=True, help="What the token is for (e.g. lane-3 node).")
@click.option("--lane", "lane_id", default=None, help="Lane the node serves.")
@click.option("--days", type=click.IntRange(1, 3650), default=None, help="Lifetime.")
@pass_ctx
@reports_errors
def tokens_create(ctx: Context, name: str, lane_id: str | None, days: int | None) -> None:
    """Create a lane-node token (crossings:write, health:write); shown once, stored hashed."""
    with _store(ctx.settings) as st:
        issued = tok.create_token(
            st.pool,
            st.trail,
            by=_operator("admin"),
            name=name,
            lane_id=lane_id,
            days=days or ctx.settings.security.token_days,
        )
    click.echo(f"token {issued.id} (expires {issued.expires_at:%Y-%m-%d}); shown once:")
    click.echo(issued.token)


@tokens.command("list")
@pass_ctx
@reports_errors
def tokens_list(ctx: Context) -> None:
    """Tokens (never their secrets)."""
    with _store(ctx.settings) as st:
        rows = tok.list_tokens(st.pool)
    now = datetime.now(UTC)
    for t in rows:
        state = (
            "revoked"
            if t.revoked
            else ("expired" if t.expires_at and t.expires_at < now else "active")
        )
        click.echo(f"{t.id} {t.name:<20} lane={t.lane_id or '-'} {','.join(t.scopes)} {state}")
    click.echo(f"{len(rows)} token(s)")


@tokens.command("revoke")
@click.argument("token_id")
@pass_ctx
@reports_errors
def tokens_revoke(ctx: Context, token_id: str) -> None:
    """Revoke a token at once."""
    with _store(ctx.settings) as st:
        tok.revoke_token(st.pool, st.trail, by=_operator("admin"), token_id=token_id)
    click.echo(f"token {token_id} revoked")
