import { readFileSync } from 'node:fs';
import { hostname, uptime } from 'node:os';

/**
 * Names the clock that process.hrtime.bigint() reads: monotonic since boot,
 * shared by every process of one machine, meaningless on another machine or
 * after a reboot. Linux gives each boot a random id; elsewhere the boot time
 * (to the minute, so two processes of one boot agree) stands in for it.
 */
export function clockId(): string {
  let boot: string;
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    boot = `booted-${new Date(Math.round((Date.now() - uptime() * 1000) / 60_000) * 60_000).toISOString()}`;
  }
  return `${hostname()}/${boot}`;
}

/**
 * The wall clock in ms since the epoch, to the microsecond: the process's
 * wall-clock origin plus monotonic time since, so two reads a moment apart
 * never go backwards the way Date.now() may when NTP steps the clock.
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
