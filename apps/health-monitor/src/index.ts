export { initialJudgeState, judge, believedHealth, brokerConnected, forgetVerdicts } from './judge/judge';
export type { GatewayView, JudgedProplet, JudgeInput, Judgement, JudgeState, Liveness, PropletFact, Thresholds, Verdict } from './judge/judge';
export { breakerWindowStep, measureSite, sitesToPause, tripsBreaker, UNLABELLED_SITE } from './judge/breaker';
export type { BreakerConfig, CountedProplet, SiteBreaker, SiteMeasurement, WindowStep } from './judge/breaker';
export { factOf, siteOf } from './judge/facts';
export type { PropletLabels } from './judge/facts';
export { alertSubject, DEFAULT_GATEWAY_STALE_MS, HEALTH_METRICS, livenessInput, startHealthMonitor } from './monitor';
export type { BreakerTrippedAlert, HealthMonitorOptions, MonitorLogger, RunningHealthMonitor } from './monitor';
