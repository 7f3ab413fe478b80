"""bench/release_profile: Bazaar's own cost per released order, in one process. Releases due
orders one by one as the auto-release job does (escrow.services.escrow_release, trigger auto),
under the production settings (bench/webhooks_settings) on bench/release's PostgreSQL database,
with Stripe's Transfer answer replayed: the first Transfer is the sandbox's, each later one gets
that answer back with a new id, so nothing of the sandbox's work is measured. The seller's email
is queued on Redis as in production. Prints figures; it is never a timed test.

    .venv/bin/python -m bench.release_profile [--orders 300] [--make] [--profile out.prof]

--make first adds the due orders (bench/release_data.py; the database must exist: run
`python -m bench.release --orders 1 --rate 0` once). Printed, per order: CPU ms for the whole run
and the least and the median of its 25-order chunks (another process on the cores inflates CPU
time too, the least chunk the least), wall ms, Bazaar's queries, and its round trips (the
queries with each transaction's BEGIN and COMMIT). --profile writes a cProfile of the run on
the CPU clock (read it with pstats).
"""

import argparse
import cProfile
import json
import os
import time

from bench import webhooks_stack as stack

CHUNK = 25


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.release_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--orders", type=int, default=300, help="orders measured")
    parser.add_argument("--warmup", type=int, default=5, help="orders released first, unmeasured")
    parser.add_argument("--make", action="store_true", help="add the due orders first")
    parser.add_argument("--profile", help="write a cProfile (CPU clock) here")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="bazaar_webhooks_release")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.environ.update(
        stack.production_env(
            database_url=f"{args.postgres.rstrip('/')}/{args.db_name}",
            redis_url=args.redis_url,
            site_url="http://127.0.0.1:8000",
            STRIPE_WRITES_PER_SECOND=0,
        )
    )
    import django

    django.setup()
    # Django's apps load only now, with the settings just chosen.
    from bench.release_replay import measure

    profiler = cProfile.Profile(time.process_time) if args.profile else None
    print(json.dumps(measure(args, chunk=CHUNK, profiler=profiler), indent=2))


if __name__ == "__main__":
    main()
