import type { LeafModule } from '../modules/leaf-module.js';

/** A module class, abstract or concrete. */
export type ModuleClass = abstract new (...args: never[]) => LeafModule;

/**
 * Rules of an extension, by module class. Built-in rules and third-party ones
 * register the same way: `extension.rules.register(MyModule, rule)`.
 * Lookup is by exact class, so a subclass with a different forward never
 * silently inherits a rule that does not fit it.
 */
export class RuleRegistry<Rule> {
  private readonly rules = new Map<ModuleClass, Rule>();

  constructor(private readonly extensionName: string) {}

  /** Adds or replaces the rule for `moduleClass`. */
  register(moduleClass: ModuleClass, rule: Rule): this {
    this.rules.set(moduleClass, rule);
    return this;
  }

  /** The rule for this module's class, if any. */
  find(module: LeafModule): Rule | undefined {
    return this.rules.get(module.constructor as ModuleClass);
  }

  /** The rule for this module's class, or an error naming the extension and the module. */
  get(module: LeafModule): Rule {
    const rule = this.find(module);
    if (rule === undefined) {
      throw new UnsupportedModuleError(this.extensionName, module);
    }
    return rule;
  }
}

/** An extension met a module type it has no rule for. */
export class UnsupportedModuleError extends Error {
  override readonly name = 'UnsupportedModuleError';
  constructor(
    readonly extensionName: string,
    readonly module: LeafModule,
  ) {
    super(
      `${extensionName} has no rule for ${module.describe()} (module type ${module.typeName}); ` +
        `register one with ${extensionName}'s rules.register(${module.typeName}, rule)`,
    );
  }
}
