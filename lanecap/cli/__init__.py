"""The `lanecap` command group: every command registered on `main`."""

from lanecap.cli import faces_cmds, lane_cmds, load_cmds, plates_cmds, service_cmds
from lanecap.cli.base import calibrate_group, eval_group, main, train_group

main.add_command(lane_cmds.check_config)
main.add_command(lane_cmds.run)
main.add_command(lane_cmds.demo)
main.add_command(lane_cmds.crossings)
main.add_command(service_cmds.services)
main.add_command(service_cmds.db)
main.add_command(load_cmds.load)
eval_group.add_command(plates_cmds.eval_plates)
eval_group.add_command(faces_cmds.eval_faces)
train_group.add_command(plates_cmds.train_detector)
calibrate_group.add_command(faces_cmds.calibrate_faces)

__all__ = ["main"]
