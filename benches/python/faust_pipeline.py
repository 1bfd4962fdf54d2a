"""The suite's pipelines in faust-streaming: run by benches/suite.rs, stopped by it.

usage: faust_pipeline.py BROKERS INPUT OUTPUT GROUP (stateless|windowed) STATE_DIR [IGNORED]

Faust's client is aiokafka, so the librdkafka setting the suite passes last is ignored.
"""
import sys

import faust

brokers, source, sink, group, pipeline, state_dir = sys.argv[1:7]
app = faust.App(
    group,
    broker=f"kafka://{brokers}",
    store="memory://",
    datadir=state_dir,
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.1,  # as kflow and the hand loop in the suite
    topic_disable_leader=True,
    topic_partitions=4,
)
inp = app.topic(source, key_type=str, value_serializer="json")
out = app.topic(sink, key_type=str, value_serializer="json")

if pipeline == "stateless":

    @app.agent(inp)
    async def process(stream):
        # filter -> map -> produce
        async for key, v in stream.items():
            if v["value"] % 2 == 0:
                await out.send(key=key, value={"id": v["id"], "key": v["key"], "value": v["value"] * 2})

else:
    # Count per key in 10 s tumbling event-time windows, emitted when a window closes.
    # Faust's windowed tables close windows on a wall-clock timer (`stale(ts, time.time())`
    # in faust/tables/base.py), not by event time, so the agent keeps the counts itself,
    # per partition, as the hand-written Rust loop does (no changelog either).
    WINDOW_MS = 10_000
    stream_time = {}
    open_windows = {}

    @app.agent(inp)
    async def count(stream):
        async for event in stream.events():
            partition = event.message.partition
            ts = int(event.message.timestamp * 1000)
            now = max(stream_time.get(partition, ts), ts)
            stream_time[partition] = now
            windows = open_windows.setdefault(partition, {})
            slot = (ts // WINDOW_MS * WINDOW_MS, event.key)
            windows[slot] = windows.get(slot, 0) + 1
            for start, key in [w for w in windows if w[0] + WINDOW_MS <= now]:
                value = windows.pop((start, key))
                await out.send(key=key, value={"key": key, "start": start, "value": value})

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
