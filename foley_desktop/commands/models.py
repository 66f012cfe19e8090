"""`foley-desktop models`: installed model packages, their variants and sizes."""

from __future__ import annotations

import json

HELP = "list installed model packages, their variants and sizes"


def configure(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--verify", action="store_true",
                        help="also check the SHA-256 of every file (reads every graph)")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def run(args) -> int:
    from foley_desktop.engine.package import list_packages, load_package
    from foley_desktop.errors import ModelPackageError
    from foley_desktop.paths import model_search_path

    packages = list_packages()
    rows = []
    for p in packages:
        d = p.to_dict()
        if args.verify and p.error is None:
            try:
                load_package(p.path).verify_all()
                d["verified"] = True
            except ModelPackageError as exc:
                d["verified"] = False
                d["error"] = str(exc)
        rows.append(d)
    if args.json:
        print(json.dumps({"search_path": [str(x) for x in model_search_path()],
                          "packages": rows}, indent=2))
        return 0 if all(r["error"] is None for r in rows) else 2
    if not rows:
        where = " and ".join(str(x) for x in model_search_path())
        print(f"No model packages installed (looked in {where}).")
        return 0
    for r in rows:
        if r["error"]:
            print(f"{r['name']}  [{r['source']}]  {r['path']}\n  BROKEN: {r['error']}")
            continue
        print(f"{r['name']} {r['version']}  [{r['source']}]  {r['path']}")
        if r["description"]:
            print(f"  {r['description']}")
        print(f"  license {r['license']}; {r['sample_rate']} Hz; window {r['window_seconds']:g} s")
        sizes = ", ".join(f"{k} {_mb(v)}" for k, v in r["sizes"].items())
        print(f"  variants: {sizes}")
        for role, vs in r["variants"].items():
            print(f"    {role}: {', '.join(vs)}")
        if "verified" in r:
            print("  files verified (SHA-256)" if r["verified"] else f"  BROKEN: {r['error']}")
    return 0 if all(r["error"] is None for r in rows) else 2
