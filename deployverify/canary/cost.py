"""The month's cost, estimated from the window: Lambda requests, Lambda GB-seconds (duration x memory) and the AI
calls each document costs, scaled from the window to 30 days. Prices are Lambda's public on-demand prices (no free
tier: the estimate errs high); the per-document AI cost comes from the target (the seed: Bedrock about $3.45 a month
at 50-200 documents)."""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_USD_PER_MILLION = 0.20
GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
MONTH_DAYS = 30


@dataclass(frozen=True)
class CostEstimate:
    invocations: float
    gb_seconds: float
    documents: int
    ai_per_document_usd: float
    gb_second_usd: float
    scale: float  # window -> 30 days
    budget_usd: float
    window: str

    @property
    def requests_usd(self) -> float:
        return self.invocations * self.scale * REQUEST_USD_PER_MILLION / 1_000_000

    @property
    def compute_usd(self) -> float:
        return self.gb_seconds * self.scale * self.gb_second_usd

    @property
    def ai_usd(self) -> float:
        return self.documents * self.scale * self.ai_per_document_usd

    @property
    def month_usd(self) -> float:
        return self.requests_usd + self.compute_usd + self.ai_usd

    @property
    def over(self) -> bool:
        return self.month_usd > self.budget_usd

    def arithmetic(self) -> str:
        return (f"${self.month_usd:.2f} = {self.invocations * self.scale:,.0f} requests x "
                f"${REQUEST_USD_PER_MILLION:.2f}/M (${self.requests_usd:.2f}) + "
                f"{self.gb_seconds * self.scale:,.1f} GB-s x ${self.gb_second_usd:.10f}".rstrip("0") +
                f" (${self.compute_usd:.2f}) + "
                f"{self.documents * self.scale:,.0f} documents x ${self.ai_per_document_usd} (${self.ai_usd:.2f}); "
                f"the {self.window} window's {self.invocations:,.0f} invocation(s), {self.gb_seconds:,.1f} GB-s and "
                f"{self.documents} document(s) x {self.scale:g}")


def estimate(*, invocations: float, duration_sum_ms: float, memory_mb: int, documents: int, window_s: float,
             window: str, ai_per_document_usd: float, budget_usd: float, architecture: str) -> CostEstimate:
    gb_seconds = duration_sum_ms / 1000 * memory_mb / 1024
    return CostEstimate(invocations=invocations, gb_seconds=gb_seconds, documents=documents,
                        ai_per_document_usd=ai_per_document_usd,
                        gb_second_usd=GB_SECOND_USD.get(architecture, GB_SECOND_USD["x86_64"]),
                        scale=round(MONTH_DAYS * 86400 / window_s, 3), budget_usd=budget_usd, window=window)
