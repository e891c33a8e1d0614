import type { RecordedGraph } from '../graph/recorded-graph.js';
import type { GraphNode, LeafModule } from '../modules/leaf-module.js';
import type { Extension, ExtensionPass } from './extension.js';

/**
 * A module class: abstract or concrete, with a public or a protected
 * constructor (`ConvNd`; a protected constructor has no construct signature,
 * hence `Function`). `M` is the type of its instances.
 */
export type ModuleClass<M extends LeafModule = LeafModule> = Function & {
  /** Its instances' prototype: a `LeafModule`. */
  readonly prototype: M;
};

/**
 * A rule as it reads for the modules of class `M`: the rule itself when it
 * is a function, or each of its methods (optional ones too), takes a
 * `GraphNode<M>` where it takes a `GraphNode`, so that `node.module` has the
 * type `M`; anything else is left as it is. What
 * {@link RuleBasedExtension.setModuleRule} takes for `M`'s class.
 */
export type RuleForModule<Rule, M extends LeafModule> = Rule extends (node: GraphNode, ...rest: infer Rest) => infer Result
  ? (node: GraphNode<M>, ...rest: Rest) => Result
  : Rule extends (...args: never[]) => unknown
    ? Rule
    : Rule extends object
      ? {
          [K in keyof Rule]: NonNullable<Rule[K]> extends (node: GraphNode, ...rest: infer Rest) => infer Result
            ? (node: GraphNode<M>, ...rest: Rest) => Result
            : Rule[K];
        }
      : Rule;

/** Rules by module class, e.g. a package's default rules for one extension. */
export type ModuleRules<Rule> = Iterable<readonly [ModuleClass, Rule]>;

/**
 * Rules of one extension instance, by module class. A module gets the rule of
 * the nearest class in its prototype chain (its own class, then its parent's,
 * ...), so a subclass inherits its parent's rule unless it has its own.
 */
export class RuleRegistry<Rule> {
  private readonly rules: Map<ModuleClass, Rule>;

  /** Starts as a copy of `defaults`: setting a rule here never changes them. */
  constructor(defaults: ModuleRules<Rule> = []) {
    this.rules = new Map(defaults);
  }

  /** Adds or replaces the rule for `moduleClass` (and its subclasses without one of their own). */
  set(moduleClass: ModuleClass, rule: Rule): void {
    this.rules.set(moduleClass, rule);
  }

  /** The rule of the nearest class in the module's prototype chain, if any. */
  find(module: LeafModule): Rule | undefined {
    for (let type: unknown = module.constructor; typeof type === 'function'; type = Object.getPrototypeOf(type)) {
      const rule = this.rules.get(type as ModuleClass);
      if (rule !== undefined) return rule;
    }
    return undefined;
  }
}

/**
 * The base of every extension with rules per module class: the one way to
 * give an extension a rule, {@link setModuleRule} on the instance (as
 * BackPACK's `set_module_extension`), on top of the package's default rules,
 * with a fallback rule read off the module's traits for classes that have
 * neither.
 */
export abstract class RuleBasedExtension<Rule> implements Extension {
  abstract readonly name: string;
  abstract readonly savefield: string;
  private readonly rules: RuleRegistry<Rule>;

  /** `defaults`: the package's rules for this extension, copied into the instance. */
  protected constructor(defaults: ModuleRules<Rule>) {
    this.rules = new RuleRegistry(defaults);
  }

  /**
   * Uses `rule` for modules of `moduleClass` and of its subclasses without a
   * rule of their own, in this instance only; replaces a package default for
   * that class. Returns the extension, so that it can be set up inline:
   * `backpack([new DiagHessian().setModuleRule(MyModule, rule)], ...)`.
   *
   * The rule's node is typed by the class (`GraphNode<MyModule>`), so a
   * rule written inline reads `node.module`'s own fields without a cast; a
   * rule written for any module (a package's generic rule) fits too.
   */
  setModuleRule<M extends LeafModule>(moduleClass: ModuleClass<M>, rule: RuleForModule<Rule, M>): this {
    // Sound: the registry hands this rule only nodes of modules whose prototype chain holds moduleClass, that is, instances of M.
    this.rules.set(moduleClass, rule as unknown as Rule);
    return this;
  }

  /**
   * The rule this extension uses for `module`: the one set on the instance or
   * the package default, for the nearest class in the module's prototype
   * chain; else the fallback for the module's traits; else undefined.
   */
  ruleFor(module: LeafModule): Rule | undefined {
    return this.rules.find(module) ?? this.fallbackRule(module);
  }

  /**
   * The rule for a module whose class chain has none, from what the module
   * declares (`module.traits`, no parameters, ...), or undefined. None by
   * default.
   */
  protected fallbackRule(_module: LeafModule): Rule | undefined {
    return undefined;
  }

  /** What a module needs for the fallback rule, for the error when it has none (e.g. `'the trait perSampleParameterJacobian'`). */
  protected fallbackRequirement(_module: LeafModule): string | undefined {
    return undefined;
  }

  /** {@link ruleFor}, or an {@link UnsupportedModuleError} naming this extension and the module. */
  protected requireRule(module: LeafModule): Rule {
    const rule = this.ruleFor(module);
    if (rule === undefined) throw new UnsupportedModuleError(this.name, module, this.fallbackRequirement(module));
    return rule;
  }

  abstract check(node: GraphNode, graph: RecordedGraph): void;
  abstract begin(graph: RecordedGraph): ExtensionPass;
}

/** An extension met a module it has no rule for. */
export class UnsupportedModuleError extends Error {
  /** Always `'UnsupportedModuleError'`, to tell the error apart without `instanceof`. */
  override readonly name = 'UnsupportedModuleError';
  constructor(
    /** The extension that has no rule (`'KFLR'`). */
    readonly extensionName: string,
    /** The module it met. */
    readonly module: LeafModule,
    /** What the module would need for the extension's fallback rule, if it has one. */
    readonly fallbackRequirement?: string,
  ) {
    const declare = fallbackRequirement === undefined ? '' : `declare ${fallbackRequirement} on ${module.typeName}, or `;
    super(
      `${extensionName} has no rule for ${module.describe()} (module type ${module.typeName}); ` +
        `${declare}set one with ${extensionName}'s setModuleRule(${module.typeName}, rule)`,
    );
  }
}
