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

/// Documented processors keep their docs.
#[kflow::processor(input = ["orders"], output = "ids")]
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
        .listener(any_order)
        .listener(whole_record)
        .listener(text)
        .processor(ids)
        .processor(routed);
}
