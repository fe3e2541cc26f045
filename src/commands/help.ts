// `help [COMMAND]`: the usage, or one command's options, generated from the declarations.
import { defineCommand, findCommand, helpText, unknownCommand, usageText } from '../command.js';
import { ExitStatus } from '../errors.js';

export const helpCommand = defineCommand({
  name: 'help',
  summary: "the commands, or one command's options",
  args: '[COMMAND...]',
  options: {},
  async run({ positionals }, context) {
    if (positionals.length === 0) {
      process.stdout.write(`${usageText(context.commands)}\n`);
      return ExitStatus.ok;
    }
    const found = findCommand(context.commands, positionals);
    if (!found || found.rest.length > 0) {
      const group = context.commands.filter((c) => c.name.startsWith(`${positionals[0]} `));
      if (group.length > 0 && positionals.length === 1) {
        process.stdout.write(`${group.map(helpText).join('\n\n')}\n`);
        return ExitStatus.ok;
      }
      throw unknownCommand(context.commands, positionals);
    }
    process.stdout.write(`${helpText(found.command)}\n`);
    return ExitStatus.ok;
  },
});
