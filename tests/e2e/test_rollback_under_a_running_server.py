"""A rollback is picked up by a running `namegen serve` with no failed request."""

from __future__ import annotations

import pytest

from components.pusher.executor import push_atomically
from namegen.commands import rollback
from serving import model_dir


@pytest.mark.slow
def test_a_rollback_is_served_by_a_running_server_with_no_failed_request(tiny_model, tmp_path):
    """Versions 1 and 2 pushed, the server on 2; `rollback` makes version 3 (1's files) the
    served one at the server's next poll, while a client loops without a failure."""
    import shutil
    import threading

    from tests.support.serving_helpers import (
        SCORE_REQUEST,
        http,
        start_local_server,
        version_states,
        wait_for,
    )

    base = tmp_path / "names"
    push_atomically(str(tiny_model), str(base))
    second = tmp_path / "second"
    shutil.copytree(tiny_model, second)  # another source: a new version, as a new run's model
    push_atomically(str(second), str(base))
    local = start_local_server(base, poll_seconds=0.2)
    statuses: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        for _ in range(20000):  # bounded by count and by the stop event
            if stop.is_set():
                break
            statuses.append(http("POST", local.rest + "/v1/models/names:predict", SCORE_REQUEST)[0])

    client = threading.Thread(target=loop)
    try:
        assert wait_for(lambda: version_states(local) == {"2": "AVAILABLE"})
        client.start()
        assert wait_for(lambda: len(statuses) > 5)
        assert rollback.rollback(str(base))[:2] == (3, 1)
        assert wait_for(lambda: version_states(local) == {"3": "AVAILABLE", "2": "END"})
        served = len(statuses)
        assert wait_for(lambda: len(statuses) > served + 5)  # requests answered by version 3
    finally:
        stop.set()
        client.join(timeout=60)
        local.stop()
    assert statuses and set(statuses) == {200}
    assert model_dir.read_metadata(base / "3")["rollback"]["from_version"] == 1
