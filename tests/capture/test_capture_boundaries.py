"""The capture package stays independent of recognition, storage and lanecap."""

from __future__ import annotations

import ast
from pathlib import Path

import capture

FORBIDDEN = ("recognition", "storage", "lanecap")


def test_capture_imports_no_other_lanecap_package() -> None:
    offenders = []
    for path in sorted(Path(capture.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
