/** What `POST /payments` accepts. */
export interface ChargeRequest {
  customerId: string;
  /** Minor units (cents). */
  amount: number;
  /** ISO 4217 code, e.g. `EUR`. */
  currency: string;
  /** Same key, same charge: makes retrying a charge safe. */
  idempotencyKey: string;
}

export interface Payment {
  id: string;
  customerId: string;
  amount: number;
  currency: string;
  status: string;
  createdAt: string;
}

export interface PaymentStatus {
  id: string;
  status: string;
  /** True when the gateway could not be asked and the last known status is shown. */
  stale: boolean;
}

export interface PaymentEvent {
  status: string;
  at: string;
}

export interface ExchangeRate {
  currency: string;
  base: string;
  rate: number;
  at: string;
  /** True when the gateway could not be asked and the last known rate is shown. */
  stale: boolean;
}
