use kflow::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u32,
}

#[kflow::listener(topics = "orders")]
async fn value_only(_order: Order) {}

#[kflow::listener(topics = ["orders", "returns"], group_id = "g", concurrency = 4, start = latest, on_error = skip,
                  properties = [("fetch.min.bytes", "1")])]
async fn any_order(_meta: Meta, _key: Key<String>, _order: Order, _headers: Headers) -> Result<(), HandlerError> {
    Ok(())
}

#[kflow::listener(topics = ["orders"], value_format = "json")]
async fn whole_record(record: Record<Order>) -> Result<(), std::io::Error> {
    let _ = record.value.id;
    Ok(())
}

#[kflow::listener(topics = ["text"], value_format = string)]
async fn text(_line: String) {}

#[kflow::listener(topics = ["orders"], on_error = retry(max_attempts = 3, backoff = exponential(100ms, 2.0)).then_dead_letter())]
async fn retried(_order: Order) {}

#[kflow::listener(topics = ["orders"],
                  on_error = retry(5, fixed(1s)).then_retry_topics([10s, 2m]).then_dead_letter(suffix = ".DLT", headers = spring))]
async fn retried_through_topics(_order: Order) {}

#[kflow::listener(topics = ["orders"], on_error = retry_topics(delays = [500ms]).then_skip())]
async fn topics_then_skip(_order: Order) {}

#[kflow::listener(topics = ["orders"],
                  on_error = retry(3, fixed(1s)).then_retry_topics([1m, 10m], shared = "internal.retry").then_dead_letter())]
async fn shared_tiers(_order: Order) {}

#[kflow::listener(topics = ["orders"], on_error = retry_topics([30s], shared = "internal.retry").then_skip())]
async fn shared_tiers_first(_order: Order) {}

#[kflow::listener(topics = ["orders"],
                  on_error = retry(max_attempts = 4, backoff = exponential(50ms, 3, max = 1s, jitter = 0.2)).then_fail())]
async fn capped(_order: Order) {}

#[derive(Debug, Clone, Serialize, Deserialize, apache_avro::AvroSchema)]
struct Payment {
    id: i64,
}

#[kflow::listener(topics = ["payments"], value_format = avro)]
async fn avro_payments(_payment: Payment) {}

#[kflow::processor(input = "payments", output = "payments-copy", value_format = avro)]
fn copy_payments(payments: Flow<Payment>) -> Flow<Payment> {
    payments
}

#[kflow::listener(topics = ["clicks"], value_format = json_schema)]
async fn clicks(_click: Order) {}

#[kflow::processor(input = "orders", output = "ids", on_error = dead_letter(suffix = "-dead"))]
fn dead_lettered(orders: Flow<Order>) -> Flow<u32> {
    orders.map(|o| o.id)
}

#[kflow::listener(topics = ["orders", "refunds"], on_error = dead_letter(topic = "internal.dlq"))]
async fn shared_dead_letters(_order: Order) {}

/// Documented processors keep their docs.
#[kflow::processor(input = ["orders"], output = "ids", exactly_once = true)]
fn ids(orders: Flow<Order>) -> Flow<u32> {
    orders.map(|o| o.id)
}

#[kflow::processor(input = "orders", on_error = fail, start = earliest)]
fn routed(orders: Flow<Order>) -> Flow<Sent> {
    orders.to("elsewhere")
}

fn main() {
    let _app = App::new("ui")
        .listener(value_only)
        .listener(shared_dead_letters)
        .listener(any_order)
        .listener(whole_record)
        .listener(text)
        .listener(retried)
        .listener(retried_through_topics)
        .listener(topics_then_skip)
        .listener(shared_tiers)
        .listener(shared_tiers_first)
        .listener(capped)
        .processor(dead_lettered)
        .listener(avro_payments)
        .processor(copy_payments)
        .listener(clicks)
        .processor(ids)
        .processor(routed);
}
