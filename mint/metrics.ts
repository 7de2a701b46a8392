// The mint's counters and their Prometheus text (GET /metrics). Labels come
// from fixed sets (route names, error codes), never from what a client sent.

export interface MintGauges {
  uptimeS: number;
  deposited: number;
  issued: number;
  spent: number;
  balances: number;
  accounts: number;
  commitGroups: number;
  committedRequests: number;
  commitSeconds: number;
  walSyncs: number;
  walSyncSeconds: number;
}

export class MintMetrics {
  readonly #requests = new Map<string, number>();
  readonly #latency = new Map<string, { count: number; sumS: number }>();

  request(route: string, outcome: string, ms: number): void {
    const key = `route="${route}",outcome="${outcome}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const l = this.#latency.get(route) ?? { count: 0, sumS: 0 };
    l.count++;
    l.sumS += ms / 1000;
    this.#latency.set(route, l);
  }

  render(g: MintGauges): string {
    const out: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of rows) out.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
    };
    metric('sparecycles_mint_requests_total', 'counter', 'Requests by route and outcome (ok or an error code).', [...this.#requests]);
    metric('sparecycles_mint_request_seconds_sum', 'counter', 'Time spent answering, by route.', [...this.#latency].map(([r, l]) => [`route="${r}"`, l.sumS]));
    metric('sparecycles_mint_request_seconds_count', 'counter', 'Requests timed, by route.', [...this.#latency].map(([r, l]) => [`route="${r}"`, l.count]));
    metric('sparecycles_mint_deposited_total', 'counter', 'Credits deposited into accounts.', [['', g.deposited]]);
    metric('sparecycles_mint_issued_total', 'counter', 'Credits issued (payments and swaps).', [['', g.issued]]);
    metric('sparecycles_mint_spent_total', 'counter', 'Credits spent (redeems and swaps).', [['', g.spent]]);
    metric('sparecycles_mint_outstanding', 'gauge', 'Credits issued and not yet spent.', [['', g.issued - g.spent]]);
    metric('sparecycles_mint_account_balances', 'gauge', 'Sum of all account balances.', [['', g.balances]]);
    metric('sparecycles_mint_accounts', 'gauge', 'Accounts.', [['', g.accounts]]);
    metric('sparecycles_mint_commit_groups_total', 'counter', 'Commits (each carries a group of requests).', [['', g.commitGroups]]);
    metric('sparecycles_mint_committed_requests_total', 'counter', 'Requests committed (a commit carries a group).', [['', g.committedRequests]]);
    metric('sparecycles_mint_commit_seconds_total', 'counter', 'Time spent in commits.', [['', g.commitSeconds]]);
    metric('sparecycles_mint_wal_syncs_total', 'counter', 'WAL syncs; every answer waits for one that began after its commit.', [['', g.walSyncs]]);
    metric('sparecycles_mint_wal_sync_seconds_total', 'counter', 'Time spent in WAL syncs, on the thread pool.', [['', g.walSyncSeconds]]);
    metric('sparecycles_mint_uptime_seconds', 'gauge', 'Seconds since start.', [['', g.uptimeS]]);
    return `${out.join('\n')}\n`;
  }
}
