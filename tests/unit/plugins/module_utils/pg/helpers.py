"""Helpers of the pg/ unit tests."""


def fake_program(tmp_path, name, script):
    """An executable stand-in for a client program (a shell script), to drive failure paths."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text('#!/bin/sh\n' + script)
    path.chmod(0o755)
    return str(path)
