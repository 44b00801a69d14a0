"""The `lanecap` command group: every command registered on `main`."""

from lanecap.cli import (
    faces_cmds,
    identity_cmds,
    lane_cmds,
    list_cmds,
    load_cmds,
    plates_cmds,
    reader_cmds,
    service_cmds,
)
from lanecap.cli.base import calibrate_group, eval_group, main, train_group

main.add_command(lane_cmds.check_config)
main.add_command(lane_cmds.run)
main.add_command(lane_cmds.demo)
main.add_command(lane_cmds.crossings)
main.add_command(service_cmds.services)
main.add_command(service_cmds.db)
main.add_command(load_cmds.load)
main.add_command(list_cmds.watchlist_group)
main.add_command(list_cmds.hotlist_group)
main.add_command(list_cmds.match)
main.add_command(identity_cmds.identity_group)
eval_group.add_command(plates_cmds.eval_plates)
eval_group.add_command(faces_cmds.eval_faces)
train_group.add_command(plates_cmds.train_detector)
train_group.add_command(reader_cmds.train_reader)
eval_group.add_command(reader_cmds.eval_reader)
calibrate_group.add_command(faces_cmds.calibrate_faces)
calibrate_group.add_command(plates_cmds.calibrate_plates)

__all__ = ["main"]

from lanecap.cli import security_cmds  # noqa: E402

main.add_command(security_cmds.keys)
main.add_command(security_cmds.audit_group)
main.add_command(security_cmds.retention)
main.add_command(security_cmds.holds_group)
main.add_command(security_cmds.users)
main.add_command(security_cmds.tokens)
from lanecap.cli import api_cmds  # noqa: E402

main.add_command(api_cmds.serve)
