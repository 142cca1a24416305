"""The top floor beside the roof: checkers and simulators that drive the product from outside
(the tenant-isolation checker, the telemetry idempotency checker, the fleet simulator, the
in-process HTTP server they share). Only management commands and tests import it."""
