"""The one `mercator` command. Each installed package adds its own subcommands through the
`mercator.commands` entry-point group (`topics` from libs/common, `import` from contacts, `demo`
from analytics), so no package needs to know the others and a missing one is simply not listed.

A subcommand's function takes the whole argument list, its own name first, as each parses it."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points


def _commands():
    return {ep.name: ep for ep in entry_points(group="mercator.commands")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = _commands()
    if not argv or argv[0] not in commands:
        names = ", ".join(sorted(commands)) or "none installed"
        print(f"usage: mercator {{{names}}} ...", file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"mercator: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    result = commands[argv[0]].load()(argv)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
