//! `kflow`: everyday Kafka operations beside kflow apps, on the same connector code.
//!
//! ```text
//! kflow --brokers 127.0.0.1:9092 produce orders --file orders.jsonl --key-field id
//! kflow consume orders --from-beginning --count 10 --output json
//! kflow topics create orders --partitions 6 --config retention.ms=604800000
//! kflow groups lag billing
//! kflow groups reset-offsets billing --topic orders --to-earliest --execute
//! kflow dlq replay orders.dlq
//! kflow cluster health --topic orders
//! ```

mod cluster;
mod connect;
mod consume;
mod dlq;
mod groups;
mod produce;
mod profiles;
mod topics;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Everyday Kafka operations: produce, consume, topics, consumer groups, dead letters.
#[derive(Parser)]
#[command(name = "kflow", version, about)]
struct Cli {
    #[command(flatten)]
    connection: connect::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes JSON lines (from a file or stdin) to a topic.
    Produce(produce::ProduceArgs),
    /// Prints a topic's records.
    Consume(consume::ConsumeArgs),
    /// Creates, lists, describes and deletes topics.
    #[command(subcommand)]
    Topics(topics::TopicsCommand),
    /// Lists and describes consumer groups, shows lag, resets offsets.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Dead-letter topics.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// The cluster: its brokers and its health.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Prints a shell completion script: `kflow completions bash > /etc/bash_completion.d/kflow`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(shell, &mut Cli::command(), "kflow", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let result = match cli.command {
        Command::Completions { .. } => Ok(()),
        Command::Produce(args) => produce::run(&cli.connection, args).await,
        Command::Consume(args) => consume::run(&cli.connection, args).await,
        Command::Topics(cmd) => topics::run(&cli.connection, cmd).await,
        Command::Groups(cmd) => groups::run(&cli.connection, cmd).await,
        Command::Dlq(cmd) => dlq::run(&cli.connection, cmd).await,
        Command::Cluster(cmd) => cluster::run(&cli.connection, cmd).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
