"""bench/release: how long the auto-release job takes for many due orders, and the scheduled
payouts job for many due payouts, and how much of it is Bazaar's own work rather than Stripe's.
Prints figures; it is never a timed test.

    .venv/bin/python -m bench.release [--orders 10000] [--payouts 0] [--rate 25 | --rate 0]
                                      [--reuse-db]

1. Builds a PostgreSQL database (--db-name) from the migrations and makes --orders orders due
   for auto-release, of --sellers onboarded sellers, paid at the sandbox (bench/release_data.py).
   --reuse-db keeps an earlier run's database and sellers and adds new due orders.
2. Starts a Celery worker on Redis under the production settings, with the sandbox answering
   in-process, timed (bench/webhooks_settings.py), and STRIPE_WRITES_PER_SECOND=--rate (25, as
   Stripe allows in test mode; 0 turns the pacing off: Bazaar's own speed).
3. Queues escrow.tasks.auto_release_due_orders once (it hands the rest to a new task every
   ESCROW_RELEASE_JOB_SECONDS) and waits until every due order's Transfer is made.
4. Prints the time to finish (the first release decided to the last Transfer recorded), the
   sandbox's time (its HTTP client's calls, timed in the worker), Bazaar's overhead per order
   (the rest, divided by the orders; with the pacing on the rest includes waiting for slots),
   the Transfers per second on average and in the busiest second at the sandbox (against the
   limit), the Celery pool process's peak RSS and the load before and after.
5. With --payouts N (after the orders; --orders 0 for payouts alone): N sellers paid out daily,
   each with a release's worth available on their Stripe balance (bench/release_data.py), a new
   worker, payouts.tasks.run_scheduled_payouts queued once (it hands the rest on every
   PAYOUT_JOB_SECONDS), and the same figures per payout, from the first payout requested to the
   last one Stripe took (its balance read and its Payout create are the sandbox's time).

The webhooks the Transfers cause are held at the sandbox: the web side is bench/webhooks'.
"""

import argparse
import json
import time
from pathlib import Path

import psycopg
import redis

from bench import webhooks_stack as stack
from bench.webhooks_stack import CALLS, SECONDS

TARGET_OVERHEAD_MS = 10
TARGET_WORKER_RSS_MB = 200


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.release", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders due for release")
    parser.add_argument(
        "--payouts", type=int, default=0, help="scheduled payouts due (sellers paid out daily)"
    )
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument(
        "--rate", type=float, default=25, help="STRIPE_WRITES_PER_SECOND (0: no pacing)"
    )
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="bazaar_webhooks_release")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--reuse-db", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def pending_count(database_url, since_id):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM marketplace_order o WHERE o.id > %s AND NOT EXISTS ("
            " SELECT 1 FROM escrow_escrowrelease r WHERE r.order_id = o.id"
            " AND r.status = 'transferred')",
            (since_id,),
        ).fetchone()[0]


def max_order_id(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM marketplace_order").fetchone()[0]


def job_span(database_url, since_id):
    """The first release decided and the last Transfer recorded, as the rows say."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT min(r.created_at), max(r.transferred_at) FROM escrow_escrowrelease r "
            "WHERE r.order_id > %s",
            (since_id,),
        ).fetchone()


def emails_queued(database_url):
    """Emails waiting to be sent: the job's, once the set-up's are set aside."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM notifications_emaildelivery WHERE status = 'queued'"
        ).fetchone()[0]


def spans(database_url, first, last):
    """(the job's seconds, the seconds until its emails were sent too): from `first` to `last`,
    and to the last email queued since `first` that was sent, if later."""
    if first is None:
        return 0.0, 0.0
    with psycopg.connect(database_url) as conn:
        sent = conn.execute(
            "SELECT max(sent_at) FROM notifications_emaildelivery WHERE created_at >= %s",
            (first,),
        ).fetchone()[0]
    end = max(last, sent) if sent else last
    return (last - first).total_seconds(), (end - first).total_seconds()


def sandbox_last_created(database_url):
    """The sandbox's clock at its newest object (Stripe's `created`, whole seconds)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT coalesce(max(created), 0) FROM stripe_sandbox_sandboxobject"
        ).fetchone()[0]


def busiest_second(database_url, object_type, after):
    """The most `object_type` objects (transfer, payout) the sandbox made in one second of its
    clock since `after`: the writes per second Stripe saw at the peak, against the limit."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM stripe_sandbox_sandboxobject WHERE object_type = %s "
            "AND created > %s GROUP BY created ORDER BY count(*) DESC LIMIT 1",
            (object_type, after),
        ).fetchone()
    return row[0] if row else 0


def task_seconds(log_path, job_task):
    """(seconds the job's own tasks ran, seconds every other task ran) in the worker, from the
    runtimes Celery logs for each task: the releases' and payouts' notification emails are
    queued to the same worker and run between the job's hand-overs, within the span the rows
    give, so the job's figure is the job's tasks alone and the emails' is shown beside it."""
    job = other = 0.0
    for line in Path(log_path).read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line).get("data") or {}
        except ValueError:
            continue
        if "runtime" in data:
            if data.get("name") == job_task:
                job += float(data["runtime"])
            else:
                other += float(data["runtime"])
    return job, other


def setup_emails_set_aside(database_url):
    """The emails the set-up queued (a store opened and Stripe ready, for each new seller: 20,000
    for 10,000 payees) are not the job's: marked failed, unsent, before the worker starts (and
    the broker emptied of the tasks queued to send them), so its other tasks are the job's own
    emails. (They were counted before: 17.2 ms per payout "for its
    email" was two set-up emails' and its own.) Returns how many."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "UPDATE notifications_emaildelivery SET status = 'failed', "
            "last_error = 'bench/release: set-up email, not sent' WHERE status = 'queued'"
        ).rowcount


def max_payout_id(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM payouts_payout").fetchone()[0]


def payouts_sent(database_url, since_id):
    """The run's payouts Stripe took (an id from Stripe: pending, or further)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM payouts_payout WHERE id > %s AND stripe_payout_id IS NOT NULL",
            (since_id,),
        ).fetchone()[0]


def payout_job_span(database_url, since_id):
    """The first payout requested and the last one recorded as taken by Stripe."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT min(created_at), max(updated_at) FROM payouts_payout WHERE id > %s",
            (since_id,),
        ).fetchone()


def main(argv=None):
    args = parse_args(argv)
    stack.say(f"bench/release, {stack.machine()['uptime']}")
    reuse = args.reuse_db and stack.database_exists(args.postgres, args.db_name)
    if reuse:
        database_url = f"{args.postgres.rstrip('/')}/{args.db_name}"
    else:
        database_url = stack.create_database(args.postgres, args.db_name)
    env = stack.production_env(
        database_url=database_url,
        redis_url=args.redis_url,
        site_url="http://127.0.0.1:8000",
        STRIPE_WRITES_PER_SECOND=args.rate,
    )
    stack.flush_redis(args.redis_url)
    stack.manage(env, "migrate", "--noinput", "-v", "0")
    results = []
    if args.orders:
        results.append(bench_orders(args, env, database_url))
    if args.payouts:
        results.append(bench_payouts(args, env, database_url))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


def bench_orders(args, env, database_url):
    since = max_order_id(database_url)
    started = time.monotonic()
    stack.manage(
        env,
        "shell",
        "-c",
        "from bench.release_data import due_orders; "
        f"due_orders(orders={args.orders}, sellers={args.sellers})",
    )
    stack.say(f"{args.orders:,} due orders made in {time.monotonic() - started:.0f} s")
    stack.say(f"{setup_emails_set_aside(database_url):,} set-up emails set aside (not sent)")
    stack.flush_redis(args.redis_url)  # with the tasks the set-up queued to send them
    counters = redis.Redis.from_url(args.redis_url)
    counters.delete(SECONDS, CALLS)
    sandbox_since = sandbox_last_created(database_url)
    load_before = stack.machine()["load"]
    cpu_before = stack.cpu_counters()
    worker = stack.start_worker(env, concurrency=1, log_name="release-celery.log")
    try:
        stack.manage(
            env,
            "shell",
            "-c",
            "from escrow.tasks import auto_release_due_orders; auto_release_due_orders.delay()",
        )
        deadline = time.monotonic() + args.timeout
        while pending_count(database_url, since) and time.monotonic() < deadline:
            time.sleep(1)
        left = pending_count(database_url, since)
        while emails_queued(database_url) and time.monotonic() < deadline:
            time.sleep(0.5)  # the sellers' emails the job queued are part of its work
        time.sleep(2)  # the job's last task logs its runtime once it has looked for more
        worker_rss = stack.worker_peak_rss_mb(worker)
        stolen = stack.stolen_share(cpu_before, stack.cpu_counters())
    finally:
        stack.stop(worker)
    seconds = spans(database_url, *job_span(database_url, since))
    stripe_seconds = float(counters.get(SECONDS) or 0)
    stripe_calls = int(counters.get(CALLS) or 0)
    done = args.orders - left
    figures = job_figures(
        job="release",
        items=args.orders,
        done=done,
        rate=args.rate,
        seconds=seconds,
        busiest=busiest_second(database_url, "transfer", sandbox_since),
        stripe_calls=stripe_calls,
        stripe_seconds=stripe_seconds,
        task_times=task_seconds(worker.log_path, "escrow.tasks.auto_release_due_orders"),
        worker_rss=worker_rss,
        load_before=load_before,
        stolen=stolen,
    )
    report(figures)
    return figures


def bench_payouts(args, env, database_url):
    since = max_payout_id(database_url)
    started = time.monotonic()
    made = stack.manage(
        env,
        "shell",
        "-c",
        f"from bench.release_data import due_payouts; print(due_payouts(payouts={args.payouts}))",
        capture=True,
    )
    today = made.strip().splitlines()[-1]  # the day whose periods are due (ISO)
    stack.say(
        f"{args.payouts:,} sellers with a payout due on {today} made in "
        f"{time.monotonic() - started:.0f} s"
    )
    stack.say(f"{setup_emails_set_aside(database_url):,} set-up emails set aside (not sent)")
    stack.flush_redis(args.redis_url)  # with the tasks the set-up queued to send them
    counters = redis.Redis.from_url(args.redis_url)
    counters.delete(SECONDS, CALLS)
    sandbox_since = sandbox_last_created(database_url)
    load_before = stack.machine()["load"]
    cpu_before = stack.cpu_counters()
    worker = stack.start_worker(env, concurrency=1, log_name="release-payouts-celery.log")
    try:
        stack.manage(
            env,
            "shell",
            "-c",
            "from payouts.tasks import run_scheduled_payouts; "
            f"run_scheduled_payouts.delay(today='{today}')",
        )
        deadline = time.monotonic() + args.timeout
        while payouts_sent(database_url, since) < args.payouts and time.monotonic() < deadline:
            time.sleep(1)
        while emails_queued(database_url) and time.monotonic() < deadline:
            time.sleep(0.5)  # the sellers' emails the job queued are part of its work
        time.sleep(2)  # the job's last task logs its runtime once it has looked for more
        worker_rss = stack.worker_peak_rss_mb(worker)
        stolen = stack.stolen_share(cpu_before, stack.cpu_counters())
    finally:
        stack.stop(worker)
    done = payouts_sent(database_url, since)
    seconds = spans(database_url, *payout_job_span(database_url, since))
    stripe_seconds = float(counters.get(SECONDS) or 0)
    stripe_calls = int(counters.get(CALLS) or 0)
    figures = job_figures(
        job="payouts",
        items=args.payouts,
        done=done,
        rate=args.rate,
        seconds=seconds,
        busiest=busiest_second(database_url, "payout", sandbox_since),
        stripe_calls=stripe_calls,
        stripe_seconds=stripe_seconds,
        task_times=task_seconds(worker.log_path, "payouts.tasks.run_scheduled_payouts"),
        worker_rss=worker_rss,
        load_before=load_before,
        stolen=stolen,
    )
    report(figures)
    return figures


def job_figures(
    *,
    job,
    items,
    done,
    rate,
    seconds,
    busiest,
    stripe_calls,
    stripe_seconds,
    task_times,
    worker_rss,
    load_before,
    stolen,
):
    """One job's figures, per item where it makes sense; `seconds` is spans()' pair (the job's,
    with its emails), `task_times` task_seconds()' (the job's own tasks, the other tasks the
    worker ran meanwhile)."""
    job_task, other_tasks = task_times
    seconds, with_emails = seconds

    def per_item_ms(total):
        return total / done * 1000 if done else None

    return {
        "job": job,
        "items": items,
        "done": done,
        "rate_limit_per_s": rate,
        "seconds": seconds,
        "seconds_with_emails": with_emails,
        "writes_per_s": done / seconds if seconds else None,
        "busiest_second_writes": busiest,
        "stripe_calls": stripe_calls,
        "stripe_seconds": stripe_seconds,
        "stripe_ms_per_item": per_item_ms(stripe_seconds),
        "overhead_ms_per_item": per_item_ms(with_emails - stripe_seconds),
        "job_task_seconds": job_task,
        "job_overhead_ms_per_item": per_item_ms(job_task - stripe_seconds),
        "other_tasks_ms_per_item": per_item_ms(other_tasks),
        "worker_peak_rss_mb": worker_rss,
        "load_before": load_before,
        "cpu_stolen_share": stolen,
        **stack.machine(),
    }


def report(f):
    limit = f"limit {f['rate_limit_per_s']:g}/s" if f["rate_limit_per_s"] else "no limit"
    item, writes = {"release": ("order", "transfers"), "payouts": ("payout", "payouts")}[f["job"]]
    stack.say("")
    if f["job"] == "release":
        stack.say(f"{f['done']:,} of {f['items']:,} due orders released ({limit})")
    else:
        stack.say(f"{f['done']:,} of {f['items']:,} due scheduled payouts made ({limit})")
    if not f["done"]:
        stack.say("  nothing was done: see the worker's log in var/bench/")
        return
    stack.say(
        f"  time to finish          {f['seconds']:.1f} s  ({f['writes_per_s']:.1f} {writes}/s; "
        f"busiest second at Stripe: {f['busiest_second_writes']})"
    )
    stack.say(
        f"  with the job's emails   {f['seconds_with_emails']:.1f} s  (until the last email it "
        "queued was sent)"
    )
    stack.say(
        f"  sandbox (Stripe) time   {f['stripe_seconds']:.1f} s in {f['stripe_calls']} "
        f"calls = {f['stripe_ms_per_item']:.1f} ms per {item}"
    )

    # Each verdict beside the figure it judges: the span includes the emails the job queued and
    # the worker's hand-overs, the job's tasks only the job's own work.
    def verdict(ms):
        if f["rate_limit_per_s"]:
            return "(includes waiting for rate-limit slots: see --rate 0)"
        return f"target < {TARGET_OVERHEAD_MS} ms {'met' if ms < TARGET_OVERHEAD_MS else 'NOT met'}"

    label = f"Bazaar's time per {item}"
    stack.say(
        f"  {label:<23} {f['overhead_ms_per_item']:.1f} ms  (the span with the emails, less "
        "Stripe's) "
        f"{verdict(f['overhead_ms_per_item'])}"
    )
    if f["job_task_seconds"]:
        stack.say(
            f"    in the job's tasks    {f['job_overhead_ms_per_item']:.1f} ms  "
            f"{verdict(f['job_overhead_ms_per_item'])}"
        )
        stack.say(
            f"    in other tasks        {f['other_tasks_ms_per_item']:.1f} ms  (the emails the "
            "job queued, sent by the same worker)"
        )
    rss = f["worker_peak_rss_mb"]
    stack.say(
        f"  Celery worker peak RSS  {rss:.0f} MB  target < {TARGET_WORKER_RSS_MB} MB "
        f"{'met' if rss < TARGET_WORKER_RSS_MB else 'NOT met'}"
    )
    stack.say(
        f"machine: {f['cpus']} CPUs; load (1, 5, 15 min) before {f['load_before']}, "
        f"after {f['load']}; CPU stolen by the hypervisor during the run: "
        f"{stack.stolen_text(f['cpu_stolen_share'])}"
    )


if __name__ == "__main__":
    main()
