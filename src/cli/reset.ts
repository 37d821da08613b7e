import { Command } from 'commander';
import { openAdapter } from '../../adapters/open.js';
import { prepareStore, resetStock } from '../../adapters/store.js';
import { MAX_STOCK } from '../../reference-server/validation.js';
import { plural } from '../verify/verdict.js';
import type { CommandResult } from './result.js';
import { databaseOption, wholeNumber } from './options.js';

interface ResetFlags {
  db: string;
  sku: string;
  stock?: number;
  itemName: string;
}

export function resetCommand(finish: (result: CommandResult) => void): Command {
  return new Command('reset')
    .description('restore an item\'s stock and empty its ledger')
    .addOption(databaseOption())
    .option('--sku <sku>', 'the item to reset', 'A')
    .option('--stock <n>', 'new stock (and initial stock); default: the item\'s initial stock', wholeNumber(0, MAX_STOCK))
    .option('--item-name <name>', 'display name if the item has to be created', 'Flash sale item')
    .action(async (flags: ResetFlags) => {
      const adapter = await openAdapter({ url: flags.db });
      try {
        // A reset on a fresh database creates what serve would have created.
        await prepareStore(adapter, { sku: flags.sku, itemName: flags.itemName, stock: flags.stock ?? 100 });
        const { before, after } = await resetStock(adapter, flags.sku, flags.stock);
        process.stdout.write(
          `flashsale reset: ${after.sku} on ${adapter.label}: stock ${before.current_stock} -> ${after.current_stock}, ` +
            `ledger emptied (${plural(before.total_purchases, 'unit')} in purchases removed)\n`,
        );
      } finally {
        await adapter.close();
      }
      finish({ exitCode: 0 });
    });
}
