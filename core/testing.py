"""Running actions at the same moment in threads, for the PostgreSQL race tests of each app."""

import threading
import traceback

from django.db import connection

from core.errors import DomainError


def race(*actions):
    """Run the actions in threads that start together; returns (outcomes, crashes).

    An outcome is the action's result or the DomainError it raised (a legal answer); a crash is
    any other exception (an IntegrityError that escaped, a deadlock), with its traceback.
    """
    barrier = threading.Barrier(len(actions))
    outcomes, crashes = [None] * len(actions), []

    def run(i, action):
        try:
            barrier.wait(timeout=30)
            outcomes[i] = action()
        except DomainError as exc:
            outcomes[i] = exc
        except BaseException:
            crashes.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    return outcomes, crashes
