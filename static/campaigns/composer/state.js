// The composer's sections, kept as JSON in the hidden "sections" field that the server reads:
// [{title, products: [retailer_id, …]}, …].

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
        }));
      }
    } catch (error) {
      this.sections = [];
    }
  }

  save() {
    this.input.value = JSON.stringify(this.sections);
  }

  get productCount() {
    return this.sections.reduce((total, section) => total + section.products.length, 0);
  }

  addSection() {
    this.sections.push({ title: "", products: [] });
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
