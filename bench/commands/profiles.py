"""`bench profiles`: list, show and check test profiles."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


@click.group()
def profiles() -> None:
    """List the built-in test profiles, show one, or check a profile file before using it.

    \b
    Examples:
      bench profiles list
      bench profiles show quick-grade
      bench profiles validate my-profile.toml
    """


@profiles.command("list")
def list_profiles() -> None:
    """List the built-in profiles: name, cell type, steps and description.

    \b
    Examples:
      bench profiles list
    """
    from bench.profiles import builtin_profile_names, load_profile

    table = Table(title="built-in profiles", title_justify="left")
    for column in ("name", "cell type", "steps", "description"):
        table.add_column(column, overflow="fold")
    for name in builtin_profile_names():
        profile = load_profile(name)
        table.add_row(profile.name, profile.cell_type.name, ", ".join(s.kind for s in profile.steps), profile.description)
    Console(highlight=False).print(table)


@profiles.command("show")
@click.argument("name_or_path", metavar="NAME|PATH")
def show_profile(name_or_path: str) -> None:
    """Print a profile's TOML text and the safety limits that will apply when it runs.

    \b
    Examples:
      bench profiles show quick-grade
      bench profiles show ./long-discharge.toml
    """
    from bench.profiles import load_profile

    profile = load_profile(name_or_path)
    click.echo(f"# {profile.path}")
    click.echo(profile.text.rstrip("\n"))
    click.echo("")
    click.echo(f"# effective safety limits (cell type {profile.cell_type.name}, tightened by [safety] if given)")
    for field in fields(profile.safety):
        click.echo(f"#   {field.name} = {getattr(profile.safety, field.name):g}")
    click.echo(f"# steps: {', '.join(step.name for step in profile.steps)}")


@profiles.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def validate(path: Path) -> None:
    """Check a profile file: prints an OK line, or one line saying what is wrong (exit 2).

    \b
    Examples:
      bench profiles validate my-profile.toml
    """
    from bench.profiles import load_profile

    profile = load_profile(path if str(path).endswith(".toml") or path.exists() else str(path))
    click.echo(
        f"OK: {path}: profile {profile.name!r} for {profile.cell_type.name}, {len(profile.steps)} steps "
        f"({', '.join(step.name for step in profile.steps)}), sha256 {profile.sha256[:12]}"
    )
