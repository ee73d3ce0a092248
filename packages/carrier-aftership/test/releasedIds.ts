/**
 * The event ids of the documented-shape DHL webhook (`Payloads.dhlWebhook()`) as released in
 * 0.1.0: ids hash each checkpoint's time as sent, so no later reading of times may move them.
 */
export const releasedDhlIds: ReadonlyArray<string> = [
  "dhl/1234567890:e2e17ed35e16bad9bff4ca48252787cc",
  "dhl/1234567890:188ea76ff10ab6bed8add65c236a51f0",
  "dhl/1234567890:7c3a6eaa6a4c6b90469ee129d47e2211",
  "dhl/1234567890:57117f786ab32251ddebd031d14744b2",
  "dhl/1234567890:9db1760c7ad03bf9379460b907ea9790",
  "dhl/1234567890:2defe919add55a5e6600ea745f11aaf6",
  "dhl/1234567890:bb49136249e4e0f7a4f7630013a7dea7"
]
