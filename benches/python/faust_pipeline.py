"""The suite's pipelines in faust-streaming: run by benches/suite.rs, stopped by it.

usage: faust_pipeline.py BROKERS INPUT OUTPUT GROUP (stateless|windowed) STATE_DIR
"""
import sys
from datetime import timedelta

import faust

brokers, source, sink, group, pipeline, state_dir = sys.argv[1:7]
app = faust.App(
    group,
    broker=f"kafka://{brokers}",
    store="memory://",
    datadir=state_dir,
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    topic_disable_leader=True,
    topic_partitions=4,
    table_cleanup_interval=1.0,
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

    async def emit(key, count):
        window_key, (start, _end) = key
        await out.send(key=window_key, value={"start": int(start * 1000), "value": count})

    # count per key in 10 s tumbling windows, emitted when a window closes
    counts = app.Table("counts", default=int, on_window_close=lambda k, v: app.loop.create_task(emit(k, v))).tumbling(
        timedelta(seconds=10), expires=timedelta(seconds=10)
    )

    @app.agent(inp)
    async def count(stream):
        async for event in stream.events():
            counts[event.key] += 1

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
