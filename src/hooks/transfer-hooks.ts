// transfer-hooks.ts — triggers on transfer events: the hook command and the webhook, each on
// its own bounded WorkQueue, off the receiver's path (the event listener only queues). The
// settings are replaced as a whole on SIGHUP; a queued job runs with the settings of the
// moment its event happened. Runs as the daemon's user: no privilege change. When the daemon
// stops, waiting events are forgotten, running commands killed, deliveries abandoned.
import type { Logger } from 'pino';
import { RateLimitedLog } from '../log.js';
import type { TransferEvent, TransferEventSource, TransferEventType } from '../recv/transfer-events.js';
import { HookRunner, runCommandHook } from './command-hook.js';
import { deliverWebhook } from './webhook.js';
import { WorkQueue, type WorkQueueStats } from './work-queue.js';

/** Webhook deliveries run one at a time, so a receiver sees the events of a transfer in order. */
const kWebhookConcurrency = 1;

export interface HookSettings {
  /** Events that trigger the hooks. */
  events: readonly TransferEventType[];
  /** argv of the hook command; empty: no command hook. */
  command: readonly string[];
  commandTimeoutMs: number;
  commandConcurrency: number;
  /** Events waiting for a command slot before new ones are dropped. */
  commandQueue: number;
  /** null: no webhook. */
  webhookUrl: string | null;
  /** HMAC-SHA256 key of X-JetRecv-Signature (required with webhookUrl). */
  webhookSecret: string | null;
  webhookTimeoutMs: number;
  webhookRetries: number;
  /** Wait before the first retry (doubles each time; default 1 s). */
  webhookBackoffMs: number;
  webhookQueue: number;
}

interface Job {
  event: TransferEvent;
  settings: HookSettings;
}

export interface HookStats {
  command: WorkQueueStats;
  webhook: WorkQueueStats;
}

export class TransferHooks {
  private settings: HookSettings;
  private readonly commands: WorkQueue<Job>;
  private readonly webhooks: WorkQueue<Job>;
  private unsubscribe: (() => void) | null = null;
  private readonly log: Logger;
  private readonly limited: RateLimitedLog;
  private readonly stopping = new AbortController();
  private readonly runner: HookRunner;

  constructor(
    private readonly source: TransferEventSource,
    settings: HookSettings,
    private readonly sandboxRoot: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'hooks' });
    this.limited = new RateLimitedLog(this.log);
    this.runner = new HookRunner(this.log);
    this.settings = settings;
    this.commands = new WorkQueue(
      (job) =>
        runCommandHook(job.event, {
          argv: job.settings.command,
          timeoutMs: job.settings.commandTimeoutMs,
          sandboxRoot: this.sandboxRoot,
          runner: this.runner,
          log: this.log,
          signal: this.stopping.signal,
        }),
      { concurrency: settings.commandConcurrency, capacity: settings.commandQueue },
    );
    this.webhooks = new WorkQueue(
      (job) =>
        deliverWebhook(job.event, {
          url: job.settings.webhookUrl as string,
          secret: job.settings.webhookSecret as string,
          timeoutMs: job.settings.webhookTimeoutMs,
          retries: job.settings.webhookRetries,
          backoffMs: job.settings.webhookBackoffMs,
          log: this.log,
          signal: this.stopping.signal,
        }),
      { concurrency: kWebhookConcurrency, capacity: settings.webhookQueue },
    );
    this.listen();
  }

  /** New settings (SIGHUP): for events from now on; queued jobs keep theirs. */
  configure(settings: HookSettings): void {
    this.settings = settings;
    this.commands.limits = { concurrency: settings.commandConcurrency, capacity: settings.commandQueue };
    this.webhooks.limits = { concurrency: kWebhookConcurrency, capacity: settings.webhookQueue };
    this.listen();
  }

  stats(): HookStats {
    return { command: this.commands.stats(), webhook: this.webhooks.stats() };
  }

  /** Stops: no new events, waiting ones forgotten, running commands killed, deliveries abandoned. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.commands.clear();
    this.webhooks.clear();
    this.stopping.abort();
    this.runner.close();
  }

  /** Subscribed only while a hook is configured: without one, events cost the receiver nothing. */
  private listen(): void {
    const wanted = !this.stopping.signal.aborted && (this.settings.command.length > 0 || this.settings.webhookUrl !== null);
    if (wanted && this.unsubscribe === null) this.unsubscribe = this.source.subscribe((event) => this.onEvent(event));
    if (!wanted && this.unsubscribe !== null) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
  }

  private onEvent(event: TransferEvent): void {
    const settings = this.settings;
    if (!settings.events.includes(event.type)) return;
    if (settings.command.length > 0 && !this.commands.push({ event, settings })) {
      this.limited.warn(
        'command-overflow',
        { hook: 'command', event: event.type, transferId: event.transfer.transferId, capacity: settings.commandQueue },
        'hook queue full: events dropped (counted in jetrecv_hook_jobs_total{result="dropped"})',
      );
    }
    if (settings.webhookUrl !== null && !this.webhooks.push({ event, settings })) {
      this.limited.warn(
        'webhook-overflow',
        { hook: 'webhook', event: event.type, transferId: event.transfer.transferId, capacity: settings.webhookQueue },
        'webhook queue full: events dropped (counted in jetrecv_hook_jobs_total{result="dropped"})',
      );
    }
  }
}
