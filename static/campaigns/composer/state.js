// The composer's sections, kept as JSON in the hidden "sections" field that the server reads:
// [{title, products: [retailer_id, …], personalised}, …]; a personalised section holds no
// products here: each recipient's own are given with their values (the skus column).

export class SectionsState {
  constructor(input) {
    this.input = input;
    this.sections = [];
    try {
      const data = JSON.parse(input.value || "[]");
      if (Array.isArray(data)) {
        this.sections = data.map((s) => ({
          title: typeof s.title === "string" ? s.title : "",
          products: Array.isArray(s.products) ? s.products.map(String) : [],
          personalised: s.personalised === true,
        }));
      }
    } catch (error) {
      this.sections = [];
    }
  }

  save() {
    this.input.value = JSON.stringify(this.sections);
  }

  /** The products the campaign itself sends (a personalised section's are the recipient's). */
  get productCount() {
    return this.sections.reduce((total, section) => total + (section.personalised ? 0 : section.products.length), 0);
  }

  addSection() {
    this.sections.push({ title: "", products: [], personalised: false });
    this.save();
    return this.sections.length - 1;
  }

  /** Remove a section; returns it, so that it can be put back (`restoreSection`). */
  removeSection(index) {
    const [removed] = this.sections.splice(index, 1);
    this.save();
    return removed;
  }

  restoreSection(index, section) {
    this.sections.splice(Math.min(index, this.sections.length), 0, section);
    this.save();
  }

  moveSection(index, delta) {
    return this.#swap(this.sections, index, delta);
  }

  /** Fill a section per recipient (its products are then set aside, not sent) or not. */
  setPersonalised(index, personalised) {
    this.sections[index].personalised = personalised;
    this.save();
  }

  setTitle(index, title) {
    this.sections[index].title = title;
    this.save();
  }

  addProduct(index, retailerId) {
    const products = this.sections[index].products;
    if (products.includes(retailerId)) return false;
    products.push(retailerId);
    this.save();
    return true;
  }

  removeProduct(index, position) {
    this.sections[index].products.splice(position, 1);
    this.save();
  }

  moveProduct(index, position, delta) {
    return this.#swap(this.sections[index].products, position, delta);
  }

  #swap(list, index, delta) {
    const other = index + delta;
    if (other < 0 || other >= list.length) return false;
    [list[index], list[other]] = [list[other], list[index]];
    this.save();
    return true;
  }
}
