"""A run ends when its last task ends, not up to 200 ms later.

pipedag's run context server waits for requests with a 200 ms receive timeout and checks its
stop flag only between two waits, so every ``flow.run`` spends up to that long in its final
join, a sizeable part of a cached run. The server's socket
is reachable through the trace hook pipedag calls when it creates the server; a short timeout
there makes the server notice the stop flag at once, at the cost of a few wake-ups of an idle
thread.

Example::

    flow.run(config=config, trace_hook=PromptStop())
"""

from __future__ import annotations

from pydiverse.pipedag.context.trace_hook import TraceHook

POLL_MILLISECONDS = 10


class PromptStop(TraceHook):
    """Trace hook that shortens the run context server's receive timeout before it starts."""

    def run_init_context_server(self, run_context_server) -> None:
        run_context_server.socket.recv_timeout = POLL_MILLISECONDS
