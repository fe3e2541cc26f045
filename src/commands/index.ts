// Every command, registered in the order the usage lists them. A new command is a module and a line here.
import type { Command } from '../command.js';
import { cloneCommand } from './clone.js';
import { rescueCommand } from './rescue.js';
import { mapShowCommand } from './map.js';
import { listCommand } from './list.js';
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';
import { backupCommand } from './backup.js';
import { restoreCommand } from './restore.js';
import { verifyCommand } from './verify.js';
import { helpCommand } from './help.js';
import { benchCommand } from './bench.js';
import { imageInfoCommand, imageMountCommand, imageUmountCommand } from './image.js';
import { certCheckCommand, certPdfCommand, eraseCommand, eraseVerifyCertCommand } from './erase.js';
import { ledgerCommand } from './ledger.js';
import { serveCommand } from './serve.js';

export const commands: readonly Command[] = [cloneCommand, rescueCommand, mapShowCommand, listCommand, runCommand, demoCommand, backupCommand, restoreCommand, verifyCommand, benchCommand, eraseCommand, eraseVerifyCertCommand, certCheckCommand, certPdfCommand, imageInfoCommand, imageMountCommand, imageUmountCommand, ledgerCommand, serveCommand, helpCommand];
