// The JSON body every benchmark target delivers: a run id, a sequence number and `sent_at` (ms) for latency.
export interface BenchPayload {
  type: string;
  run: string;
  seq: number;
  sent_at: number;
  user: { id: string; name: string };
  text: string;
}

export function makePayload(run: string, seq: number, sentAt: number): BenchPayload {
  return {
    type: 'bench.delivery',
    run,
    seq,
    sent_at: sentAt,
    user: { id: `u_${seq % 1000}`, name: 'Bench User' },
    text: 'Your order has shipped and will arrive on Thursday. Reply STOP to opt out.',
  };
}
