"""`tandem secrets check NAME...`: judge secrets given in the environment as the services judge theirs.

For what no Tandem service reads itself: docker-compose runs it before Grafana, on its admin password.
In production (TANDEM_ENV=production, the image's default) an empty, known default or short secret
fails the command, naming the variable and never showing the value; in development it is a warning.
"""

from __future__ import annotations

import os
import sys

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("secrets", help="check secrets given in the environment")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="refuse empty, known default or short secrets (names of variables)")
    check.add_argument("names", nargs="+", metavar="NAME", help="environment variables holding secrets")
    check.set_defaults(func=run)


def run(args) -> int:
    from shared.settings import Secret, production, secret_problems

    try:
        in_production = production()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    problems = secret_problems(Secret(name, os.environ.get(name, "")) for name in args.names)
    if problems and in_production:
        raise CliError("refusing weak secrets with TANDEM_ENV=production:\n  " + "\n  ".join(problems))
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{len(args.names) - len(problems)} of {len(args.names)} secrets will do")
    return 0
