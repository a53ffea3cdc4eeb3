"""Placeholder until this command is built; registering it keeps `tandem --help` complete."""


def register(sub):
    p = sub.add_parser("demo", help="(not built yet)")
    p.set_defaults(func=lambda args: print("not built yet") or 1)
