// Text modules (wrangler.toml `[[rules]] type = "Text"`): the file's contents as a string.
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/package.json" {
  export const version: string;
}
