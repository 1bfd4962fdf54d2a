"""The suite's pipelines in Quix Streams: run by benches/suite.rs, stopped by it.

usage: quix_pipeline.py BROKERS INPUT OUTPUT GROUP (stateless|windowed) STATE_DIR FETCH_QUEUE_BACKOFF_MS

FETCH_QUEUE_BACKOFF_MS is librdkafka's `fetch.queue.backoff.ms`, the same for every
librdkafka-based side of the suite.
"""
import sys

from quixstreams import Application

brokers, source, sink, group, pipeline, state_dir, fetch_backoff = sys.argv[1:8]
app = Application(
    broker_address=brokers,
    consumer_group=group,
    auto_offset_reset="earliest",
    commit_interval=0.1,  # as kflow and the hand loop in the suite
    state_dir=state_dir,
    use_changelog_topics=False,
    auto_create_topics=False,
    loglevel="WARNING",
    consumer_extra_config={"fetch.queue.backoff.ms": int(fetch_backoff)},
)
inp = app.topic(source, key_deserializer="str", value_deserializer="json")
out = app.topic(sink, key_serializer="str", value_serializer="json")
sdf = app.dataframe(topic=inp)
if pipeline == "stateless":
    # filter -> map -> produce
    sdf = sdf.filter(lambda v: v["value"] % 2 == 0)
    sdf = sdf.apply(lambda v: {"id": v["id"], "key": v["key"], "value": v["value"] * 2})
else:
    # count per key in 10 s tumbling windows, emitted when a window closes
    sdf = sdf.tumbling_window(duration_ms=10_000).count().final()
sdf.to_topic(out)
app.run()
